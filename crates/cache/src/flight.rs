//! Single-flight: at most one computation per key at a time in this process.
//!
//! The first request that misses a key takes a [`FlightGuard`]; later ones
//! get a [`Waiter`] and sleep until the guard is dropped. The guard is
//! dropped both when the value is stored and when the computation is
//! abandoned (error, trap, client gone), so a waiter never hangs on a
//! computation that will not finish: it wakes, re-checks the cache, and on a
//! miss one of the waiters takes the next guard.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

type Flights = Arc<Mutex<HashMap<String, watch::Receiver<()>>>>;

/// The set of keys currently being computed.
#[derive(Default, Clone)]
pub(crate) struct FlightTable {
    flights: Flights,
}

/// Outcome of joining a flight.
pub(crate) enum Joined {
    /// This caller computes; others wait on it until the guard drops.
    Leader(FlightGuard),
    /// Someone else computes; wait, then look again.
    Follower(Waiter),
}

impl FlightTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Receiver<()>>> {
        // The map is only ever inserted into or removed from under the lock;
        // a panic elsewhere cannot corrupt it, so poisoning is ignored.
        self.flights.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Becomes the computing leader for `key`, or a follower of the current one.
    pub(crate) fn join(&self, key: &str) -> Joined {
        let mut flights = self.lock();
        if let Some(rx) = flights.get(key) {
            return Joined::Follower(Waiter { rx: rx.clone() });
        }
        Joined::Leader(self.lead(&mut flights, key))
    }

    /// Becomes the leader for `key` if nobody is computing it, without
    /// waiting otherwise: an early refresh is optional work, and a caller
    /// that holds a fresh value must never wait for someone else's.
    pub(crate) fn try_lead(&self, key: &str) -> Option<FlightGuard> {
        let mut flights = self.lock();
        (!flights.contains_key(key)).then(|| self.lead(&mut flights, key))
    }

    /// Registers `key` as being computed (the caller checked it was not).
    fn lead(&self, flights: &mut HashMap<String, watch::Receiver<()>>, key: &str) -> FlightGuard {
        let (tx, rx) = watch::channel(());
        flights.insert(key.to_string(), rx);
        FlightGuard {
            key: key.to_string(),
            flights: self.flights.clone(),
            _tx: tx,
        }
    }

    /// How many keys are being computed right now.
    pub(crate) fn in_flight(&self) -> usize {
        self.lock().len()
    }
}

/// Held by the one computing request. Dropping it releases the key.
pub(crate) struct FlightGuard {
    key: String,
    flights: Flights,
    /// Dropped with the guard; that closes the channel and wakes waiters.
    _tx: watch::Sender<()>,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        flights.remove(&self.key);
    }
}

/// Held by a request waiting for another's computation.
pub(crate) struct Waiter {
    rx: watch::Receiver<()>,
}

impl Waiter {
    /// Resolves once the leader's guard is dropped.
    pub(crate) async fn finished(mut self) {
        while self.rx.changed().await.is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_first_caller_leads_and_the_next_follows() {
        let table = FlightTable::default();
        let leader = table.join("k");
        assert!(matches!(leader, Joined::Leader(_)));
        assert!(matches!(table.join("k"), Joined::Follower(_)));
        assert!(matches!(table.join("other"), Joined::Leader(_)));
    }

    #[tokio::test]
    async fn trying_to_lead_a_key_in_flight_gives_up_without_joining() {
        let table = FlightTable::default();
        let leader = table.try_lead("k").expect("a free key can be led");
        assert!(table.try_lead("k").is_none(), "one leader per key");
        assert!(matches!(table.join("k"), Joined::Follower(_)));
        drop(leader);
        assert_eq!(table.in_flight(), 0);
        assert!(table.try_lead("k").is_some(), "free again once released");
    }

    #[tokio::test]
    async fn dropping_the_guard_wakes_followers_and_frees_the_key() {
        let table = FlightTable::default();
        let Joined::Leader(guard) = table.join("k") else {
            panic!("first caller must lead");
        };
        let Joined::Follower(waiter) = table.join("k") else {
            panic!("second caller must follow");
        };
        let woke = tokio::spawn(waiter.finished());
        drop(guard);
        tokio::time::timeout(Duration::from_secs(5), woke)
            .await
            .expect("follower woke")
            .expect("task ran");
        assert_eq!(table.in_flight(), 0);
        assert!(matches!(table.join("k"), Joined::Leader(_)));
    }
}
