use http_body_util::BodyExt;
use hyper::body::Body;

use super::body::MAX_PIECE;
use super::*;

fn settings() -> ConnectionSettings {
    ConnectionSettings {
        max_connections: 2,
        max_requests_per_connection: 1,
        first_request_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        body_idle_timeout: Duration::from_secs(30),
        send_timeout: Duration::from_secs(5),
    }
}

#[test]
fn a_silent_new_connection_gets_the_first_request_timeout() {
    let connection = Connection::new(&settings());
    let deadline = connection.verdict().expect("not yet");
    let left = deadline.saturating_duration_since(Instant::now());
    assert!(left <= Duration::from_secs(10) && left > Duration::from_secs(9));
}

#[test]
fn a_connection_with_a_response_in_flight_gets_the_body_timeout() {
    let connection = Connection::new(&settings());
    let activity = connection.begin();
    let deadline = connection.verdict().expect("not yet");
    let left = deadline.saturating_duration_since(Instant::now());
    assert!(left <= Duration::from_secs(30) && left > Duration::from_secs(29));
    drop(activity);
    let deadline = connection.verdict().expect("not yet");
    let left = deadline.saturating_duration_since(Instant::now());
    assert!(
        left > Duration::from_secs(59),
        "idle after the request ended"
    );
}

#[test]
fn a_new_request_does_not_excuse_a_stalled_response() {
    let connection = Connection::new(&settings());
    let stalled = connection.begin();
    stalled.progressed(true);
    std::thread::sleep(Duration::from_millis(20));
    let fresh = connection.begin();
    fresh.progressed(true);
    let deadline = connection.verdict().expect("not yet");
    let left = deadline.saturating_duration_since(Instant::now());
    assert!(
        left < Duration::from_millis(4_990),
        "the stalled response's clock kept running: {left:?}"
    );
    drop(fresh);
    drop(stalled);
}

#[test]
fn a_response_waiting_on_its_component_gets_the_longer_limit() {
    let connection = Connection::new(&settings());
    let computing = connection.begin();
    let deadline = connection.verdict().expect("not yet");
    let left = deadline.saturating_duration_since(Instant::now());
    assert!(left > Duration::from_secs(29), "{left:?}");
    computing.progressed(true);
    let deadline = connection.verdict().expect("not yet");
    let left = deadline.saturating_duration_since(Instant::now());
    assert!(left <= Duration::from_secs(5), "{left:?}");
}

/// Runs the watchdog as the connection task does; what it returns is
/// why it closed the connection.
fn watch(connection: &Arc<Connection>) -> tokio::task::JoinHandle<&'static str> {
    tokio::spawn(watchdog(connection.clone()))
}

/// Why the watchdog closed the connection, if it did within `limit`.
async fn closed_within(
    watching: tokio::task::JoinHandle<&'static str>,
    limit: Duration,
) -> Option<&'static str> {
    tokio::time::timeout(limit, watching)
        .await
        .ok()
        .map(|joined| joined.expect("the watchdog does not panic"))
}

#[tokio::test]
async fn a_send_deadline_earlier_than_the_one_the_watchdog_sleeps_to_wakes_it() {
    let settings = ConnectionSettings {
        send_timeout: Duration::from_millis(200),
        ..settings()
    };
    // The watchdog last looked before the request arrived (and sleeps
    // toward the first-request limit), or while its response was still
    // being computed (toward the no-progress limit): both far later
    // than the send deadline the response's head starts.
    for arrived_before_the_look in [false, true] {
        let connection = Connection::new(&settings);
        let early = arrived_before_the_look.then(|| connection.begin());
        let watching = watch(&connection);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let activity = early.unwrap_or_else(|| connection.begin());
        activity.progressed(true);
        assert_eq!(
            closed_within(watching, Duration::from_secs(5)).await,
            Some("the client stopped taking a response"),
            "arrived before the watchdog looked: {arrived_before_the_look}"
        );
    }
}

#[tokio::test]
async fn an_idle_deadline_earlier_than_the_one_the_watchdog_sleeps_to_wakes_it() {
    let settings = ConnectionSettings {
        idle_timeout: Duration::from_millis(200),
        ..settings()
    };
    let connection = Connection::new(&settings);
    let activity = connection.begin();
    let watching = watch(&connection);
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(activity);
    assert_eq!(
        closed_within(watching, Duration::from_secs(5)).await,
        Some("idle")
    );
}

#[tokio::test]
async fn a_response_whose_client_keeps_taking_bytes_outlives_the_send_timeout() {
    let settings = ConnectionSettings {
        send_timeout: Duration::from_secs(1),
        ..settings()
    };
    let connection = Connection::new(&settings);
    let activity = connection.begin();
    let watching = watch(&connection);
    // Twice the send timeout in all, a tenth of it between pieces.
    for _ in 0..20 {
        activity.progressed(true);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !watching.is_finished(),
        "closed while the client took bytes"
    );
    watching.abort();
}

#[tokio::test]
async fn a_large_body_is_handed_over_in_frame_sized_pieces() {
    let connection = Connection::new(&settings());
    let length = 2 * MAX_PIECE + 100;
    let response = hyper::Response::new(crate::body::full(vec![7u8; length]));
    let mut body = track(response, connection.begin()).into_body();
    assert_eq!(body.size_hint().exact(), Some(length as u64));
    let mut pieces = Vec::new();
    let mut hinted = Vec::new();
    while let Some(frame) = body.frame().await {
        let data = frame.expect("frame").into_data().expect("a data frame");
        pieces.push(data.len());
        hinted.push(body.size_hint().exact());
    }
    assert_eq!(pieces, [MAX_PIECE, MAX_PIECE, 100]);
    assert_eq!(
        hinted,
        [Some(MAX_PIECE as u64 + 100), Some(100), Some(0)],
        "the size hint counts what is held back"
    );
}

#[test]
fn one_connection_holds_at_most_its_share_of_permits() {
    let connection = Connection::new(&settings());
    let first = connection.try_permit();
    assert!(first.is_some());
    assert!(connection.try_permit().is_none());
    drop(first);
    assert!(connection.try_permit().is_some());
}

#[test]
fn caps_that_fit_the_open_file_limit_are_kept() {
    assert_eq!(fit_descriptors(1 << 20, 10, 4096, 1000), (4096, 1000));
}

#[test]
fn caps_beyond_the_open_file_limit_are_lowered_to_fit() {
    let (connections, websockets) = fit_descriptors(1024, 10, 4096, 1000);
    assert!(
        connections > 100 && websockets > 50,
        "{connections} {websockets}"
    );
    assert!(2 * connections as u64 + websockets as u64 + 256 + 30 <= 1024);
}

#[test]
fn connections_past_the_cap_are_refused() {
    let slots = ConnectionSlots::new(&settings());
    let held: Vec<_> = (0..2).filter_map(|_| slots.try_open()).collect();
    assert_eq!(held.len(), 2);
    assert!(slots.try_open().is_none());
}
