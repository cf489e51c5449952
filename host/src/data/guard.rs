//! Lexical checks that refuse a statement before it reaches the database.
//!
//! They are the first line of the SQL grant: one statement per call, and a
//! read-only grant only admits statements that start as reads. The database
//! enforces the same grant again (a read-only transaction in Postgres,
//! `query_only` in SQLite), so a clever statement that slips past the
//! lexer, such as a data-modifying CTE, still cannot write.

use crate::config::SqlGrant;

use super::SqlError;

/// Whether the access is a read (`query`) or a write (`execute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Refuses what `grant` does not allow; returns whether the statement must
/// run under database-enforced read-only mode.
pub fn check(statement: &str, grant: SqlGrant, access: Access) -> Result<bool, SqlError> {
    if grant == SqlGrant::None {
        return Err(SqlError::Denied(
            "this component has no SQL grant (manifest: sql = \"read-only\" or \"read-write\")"
                .into(),
        ));
    }
    let body = single_statement(statement)?;
    let keyword = first_keyword(body);
    let is_read = matches!(keyword.as_str(), "SELECT" | "WITH" | "VALUES" | "EXPLAIN");
    match (grant, access) {
        (SqlGrant::ReadOnly, Access::Write) => Err(SqlError::Denied(
            "this component's SQL grant is read-only; execute is not allowed".into(),
        )),
        (SqlGrant::ReadOnly, Access::Read) if !is_read => Err(SqlError::Denied(format!(
            "this component's SQL grant is read-only; a {keyword} statement is not allowed"
        ))),
        (SqlGrant::ReadOnly, Access::Read) => Ok(true),
        _ => Ok(false),
    }
}

/// The statement without a trailing `;`, refusing a second statement.
fn single_statement(statement: &str) -> Result<&str, SqlError> {
    let trimmed = statement.trim();
    if trimmed.is_empty() {
        return Err(SqlError::Invalid("statement is empty".into()));
    }
    let mut quote: Option<char> = None;
    for (i, c) in trimmed.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ';') => {
                let rest = trimmed[i + 1..].trim();
                if !rest.is_empty() {
                    return Err(SqlError::Invalid(
                        "only one statement per call is allowed".into(),
                    ));
                }
                return Ok(trimmed[..i].trim());
            }
            (None, _) => {}
        }
    }
    if quote.is_some() {
        return Err(SqlError::Invalid("unterminated quoted string".into()));
    }
    Ok(trimmed)
}

/// The first word, skipping leading comments and parentheses.
fn first_keyword(statement: &str) -> String {
    let mut rest = statement.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else if let Some(after) = rest.strip_prefix('(') {
            rest = after.trim_start();
        } else {
            break;
        }
    }
    rest.chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_grant_refuses_everything() {
        assert!(matches!(
            check("SELECT 1", SqlGrant::None, Access::Read),
            Err(SqlError::Denied(_))
        ));
    }

    #[test]
    fn read_only_admits_selects_and_ctes_in_read_only_mode() {
        assert_eq!(
            check("SELECT 1", SqlGrant::ReadOnly, Access::Read),
            Ok(true)
        );
        assert_eq!(
            check(
                "  with x as (select 1) select * from x;",
                SqlGrant::ReadOnly,
                Access::Read
            ),
            Ok(true)
        );
        assert_eq!(
            check("-- note\n(SELECT 1)", SqlGrant::ReadOnly, Access::Read),
            Ok(true)
        );
    }

    #[test]
    fn read_only_refuses_writes_even_through_query() {
        for statement in [
            "DELETE FROM reports",
            "insert into reports values (1)",
            "DROP TABLE x",
        ] {
            assert!(
                matches!(
                    check(statement, SqlGrant::ReadOnly, Access::Read),
                    Err(SqlError::Denied(_))
                ),
                "{statement}"
            );
        }
        assert!(matches!(
            check(
                "UPDATE reports SET title = $1",
                SqlGrant::ReadOnly,
                Access::Write
            ),
            Err(SqlError::Denied(_))
        ));
    }

    #[test]
    fn a_second_statement_is_refused() {
        assert!(matches!(
            check(
                "SELECT 1; DROP TABLE reports",
                SqlGrant::ReadWrite,
                Access::Write
            ),
            Err(SqlError::Invalid(_))
        ));
    }

    #[test]
    fn semicolons_inside_strings_are_not_statement_breaks() {
        assert_eq!(
            check(
                "SELECT ';DROP TABLE x' AS s",
                SqlGrant::ReadOnly,
                Access::Read
            ),
            Ok(true)
        );
    }

    #[test]
    fn read_write_admits_writes_without_read_only_mode() {
        assert_eq!(
            check(
                "INSERT INTO reports (title) VALUES ($1)",
                SqlGrant::ReadWrite,
                Access::Write
            ),
            Ok(false)
        );
    }
}
