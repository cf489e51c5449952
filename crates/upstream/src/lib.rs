//! Outbound HTTP for components, through one shared reqwest client.
//!
//! The host, not the guest, owns the policy, and checks it on every hop:
//! the component's allow-list ([`allow`]); the addresses a call may reach
//! ([`policy`]), checked before connecting for IP literals and by the
//! client's own DNS resolver for names ([`resolve`]), with no proxy that
//! could resolve and connect behind its back; redirects, followed here one
//! checked hop at a time rather than by the client ([`redirect`]); the
//! headers a guest may set ([`headers`]). Then reliability: a total time
//! budget per call, retries with exponential backoff for idempotent
//! requests (longer after HTTP 429, honouring `Retry-After`), a response
//! size cap, and a circuit breaker per component and allow-list entry
//! ([`records`]) so a dead upstream fails fast instead of holding every
//! request for its timeout. Last, what an upstream can bear: the
//! manifest's request budgets per upstream, shared through Redis, and holds
//! after a 429 with `Retry-After` ([`budget`]).
//!
//! One call, in order: [`fetch`] retries attempts; each attempt is
//! [`follow`]ed through its redirects, every hop admitted by [`check`],
//! charged to its upstream's [`budget`], sent by [`send`], and its final
//! response judged by [`response`]. When the host exports traces, a call
//! is a span of its own and every hop carries its [`trace`] context.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod allow;
mod budget;
mod check;
mod client;
mod error;
mod exchange;
mod fetch;
mod follow;
mod headers;
mod networks;
mod policy;
mod records;
mod redirect;
mod resolve;
mod response;
mod retry_after;
mod send;
mod trace;

pub use allow::AllowedHost;
pub use budget::{BudgetError, BudgetStats, Budgets, Rate, UpstreamBudget};
pub use client::{Outbound, OutboundSettings};
pub use error::FetchError;
pub use exchange::{OutboundRequest, OutboundResponse};
pub use networks::{Networks, parse_networks};
pub use records::{OutboundStats, UpstreamStats};
pub use trace::TraceContext;

/// Guest-chosen text (a URL, a host name) as a log line shows it.
pub(crate) fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    strata_logtext::bounded(text, 256)
}
