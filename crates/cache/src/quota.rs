//! Per-component L1 budgets: which share of L1 each component's keys live
//! in, and how big it is.
//!
//! A component reaches only the keys under its granted prefixes, so its
//! entries can be told apart by key. Components whose grants overlap (one
//! prefix starts another, or both name the same) can write the same keys
//! and so share one budget; components with disjoint grants get shares
//! that never touch, and neither can evict the other's entries. Shares are
//! sized from the manifest (`cache_l1_mib`), or else split evenly from
//! what the explicit budgets leave, with one more even share kept for the
//! host's own keys.

use thiserror::Error;

use crate::l1::PartitionSpec;

/// One component's claim on L1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The component's name.
    pub name: String,
    /// Every key prefix the component may write (cache grants and
    /// key-value buckets).
    pub prefixes: Vec<String>,
    /// Its budget from the manifest; `None` takes the default share.
    pub l1_bytes: Option<u64>,
}

/// Why the budgets cannot be laid out.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum QuotaError {
    /// The explicit budgets add up to more than L1 holds.
    #[error(
        "the components' cache_l1_mib budgets add up to {claimed} bytes, over the L1 size of \
         {total} bytes (STRATA_CACHE_L1_MAX_BYTES)"
    )]
    OverCommitted {
        /// The sum of the explicit budgets.
        claimed: u64,
        /// The whole L1 byte budget.
        total: u64,
    },
}

/// The shares for `tenants` within an L1 of `total` bytes, one per group
/// of components with overlapping grants. Components with no prefixes hold
/// no keys and get none.
pub fn partitions(tenants: &[Tenant], total: u64) -> Result<Vec<PartitionSpec>, QuotaError> {
    let tenants: Vec<&Tenant> = tenants.iter().filter(|t| !t.prefixes.is_empty()).collect();
    let claimed: u64 = tenants.iter().filter_map(|t| t.l1_bytes).sum();
    if claimed > total {
        return Err(QuotaError::OverCommitted { claimed, total });
    }
    let defaults = tenants.iter().filter(|t| t.l1_bytes.is_none()).count() as u64;
    // The host's keys get one more default share.
    let default_share = (total - claimed) / (defaults + 1);

    let mut group: Vec<usize> = (0..tenants.len()).collect();
    for a in 0..tenants.len() {
        for b in a + 1..tenants.len() {
            if overlap(tenants[a], tenants[b]) {
                let (from, to) = (group[b], group[a]);
                group
                    .iter_mut()
                    .filter(|g| **g == from)
                    .for_each(|g| *g = to);
            }
        }
    }
    let mut specs: Vec<PartitionSpec> = Vec::new();
    let mut leaders: Vec<usize> = group.clone();
    leaders.sort_unstable();
    leaders.dedup();
    for leader in leaders {
        let members: Vec<&Tenant> = tenants
            .iter()
            .zip(&group)
            .filter(|(_, g)| **g == leader)
            .map(|(t, _)| *t)
            .collect();
        let mut names: Vec<&str> = members.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        let mut prefixes: Vec<String> = members.iter().flat_map(|t| t.prefixes.clone()).collect();
        prefixes.sort_unstable();
        prefixes.dedup();
        specs.push(PartitionSpec {
            name: names.join("+"),
            prefixes,
            max_bytes: members
                .iter()
                .map(|t| t.l1_bytes.unwrap_or(default_share))
                .sum::<u64>()
                .max(1),
        });
    }
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(specs)
}

/// Whether two components can write a common key: some prefix of one
/// starts with a prefix of the other.
fn overlap(a: &Tenant, b: &Tenant) -> bool {
    a.prefixes.iter().any(|p| {
        b.prefixes
            .iter()
            .any(|q| p.starts_with(q.as_str()) || q.starts_with(p.as_str()))
    })
}

#[cfg(test)]
mod tests;
