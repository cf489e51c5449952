//! The names of a database's two component roles.
//!
//! Roles are cluster-wide, so the name must carry the database to keep
//! installations sharing a server apart, and still fit Postgres' 63-byte
//! limit; tests and operators need to compute the same names the host uses.

use sha2::{Digest, Sha256};

/// Longest role name Postgres keeps (NAMEDATALEN - 1).
const MAX_NAME: usize = 63;

/// The names of a database's component roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleNames {
    pub read_only: String,
    pub read_write: String,
}

/// The component roles of `database`: `<database>_strata_ro` and
/// `<database>_strata_rw`; a name too long for Postgres keeps a prefix of
/// the database name and 8 hex digits of its SHA-256.
pub fn component_role_names(database: &str) -> RoleNames {
    let name = |suffix: &str| {
        let full = format!("{database}_strata_{suffix}");
        if full.len() <= MAX_NAME {
            return full;
        }
        let hash = Sha256::digest(database.as_bytes());
        let tag: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
        let keep = MAX_NAME - format!("_{tag}_strata_{suffix}").len();
        let mut cut = keep;
        while !database.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}_{tag}_strata_{suffix}", &database[..cut])
    };
    RoleNames {
        read_only: name("ro"),
        read_write: name("rw"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_carry_the_database_name() {
        let names = component_role_names("shop");
        assert_eq!(names.read_only, "shop_strata_ro");
        assert_eq!(names.read_write, "shop_strata_rw");
    }

    #[test]
    fn long_database_names_are_shortened_with_a_hash_and_stay_distinct() {
        let a = "a".repeat(60) + "x";
        let b = "a".repeat(60) + "y";
        let (na, nb) = (component_role_names(&a), component_role_names(&b));
        for name in [&na.read_only, &na.read_write, &nb.read_only] {
            assert!(name.len() <= MAX_NAME, "{name}");
        }
        assert_ne!(na.read_only, nb.read_only);
        assert!(na.read_only.ends_with("_strata_ro"));
        let wide = "é".repeat(40);
        assert!(component_role_names(&wide).read_write.len() <= MAX_NAME);
    }
}
