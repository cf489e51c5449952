//! How many connections a listener serves at once.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ConnectionSettings;

/// File descriptors the host needs besides client sockets: outbound and
/// Redis connections, compiled-code, database and log files.
const RESERVED_DESCRIPTORS: u64 = 256;

/// The connection caps (per listener) and WebSocket client cap that fit in
/// `open_files` descriptors, given the database pools (three of
/// `db_connections`: host, component read-only, component read-write) and
/// a reserve. Caps that fit are kept; otherwise the WebSocket clients get
/// at most a quarter of what is left and the two listeners share the rest.
pub fn fit_descriptors(
    open_files: u64,
    db_connections: u32,
    max_connections: usize,
    max_websocket_clients: usize,
) -> (usize, usize) {
    let for_clients = open_files
        .saturating_sub(RESERVED_DESCRIPTORS)
        .saturating_sub(3 * u64::from(db_connections));
    let wanted = 2 * max_connections as u64 + max_websocket_clients as u64;
    if wanted <= for_clients {
        return (max_connections, max_websocket_clients);
    }
    let websockets = (max_websocket_clients as u64).min(for_clients / 4);
    let connections = ((for_clients - websockets) / 2).min(max_connections as u64);
    let narrow = |n: u64| usize::try_from(n.max(1)).unwrap_or(usize::MAX);
    (narrow(connections), narrow(websockets))
}

/// Connections open on one listener, capped.
pub struct ConnectionSlots {
    slots: Arc<Semaphore>,
}

impl ConnectionSlots {
    pub fn new(settings: &ConnectionSettings) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(settings.max_connections.max(1))),
        }
    }

    /// A slot for one more connection, if the cap allows.
    pub fn try_open(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }
}
