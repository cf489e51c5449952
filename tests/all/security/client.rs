//! A hostile client against the listeners: HTTP/2 streams that never open
//! their flow-control window, connections that send nothing or stall, more
//! connections than the host serves, invented methods, and a shutdown while
//! a client holds a stream. Each must cost the host a bounded amount of
//! time and memory, and never the service of other clients.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::security::hostile;
use crate::support::{Backend, Host, Services, closed_within, http};

async fn connect(host: &Host) -> TcpStream {
    let address = host.url.trim_start_matches("http://");
    TcpStream::connect(address).await.expect("connect")
}

/// An HTTP/2 connection whose streams never get a byte of window: the host
/// can send response heads but no body.
async fn h2_without_window(host: &Host) -> h2::client::SendRequest<bytes::Bytes> {
    h2_with_window(host, 0).await
}

/// An HTTP/2 connection whose streams each start with `window` bytes of
/// flow-control window, and get more only as the client releases what it
/// has read.
async fn h2_with_window(host: &Host, window: u32) -> h2::client::SendRequest<bytes::Bytes> {
    let tcp = connect(host).await;
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(window)
        .handshake::<_, bytes::Bytes>(tcp)
        .await
        .expect("h2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Opens a GET stream for `path` on `client` and waits for its head.
async fn open_stream(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    host: &Host,
    path: &str,
) -> h2::client::ResponseFuture {
    let request = http::Request::get(format!("{}{path}", host.url))
        .body(())
        .expect("request");
    let ready = client.clone().ready().await.expect("h2 ready");
    *client = ready;
    let (response, _) = client.send_request(request, true).expect("send");
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_that_never_open_their_window_do_not_hold_admission() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile::host(
        &services,
        hostile::OWN_CORNER,
        &[("STRATA_MAX_CONCURRENT_REQUESTS", "4")],
    );
    let mut attacker = h2_without_window(&host).await;
    let mut held = Vec::new();
    for _ in 0..16 {
        let response = open_stream(&mut attacker, &host, "/hostile/ok").await;
        let head = tokio::time::timeout(Duration::from_secs(10), response)
            .await
            .expect("a response head arrives")
            .expect("response");
        held.push(head);
    }
    for i in 0..20 {
        let reply = host.get("/hostile/ok").await;
        assert_eq!(
            reply.status, 200,
            "request {i} from another client: {}",
            reply.body
        );
    }
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_trickling_their_bodies_do_not_hold_admission() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile::host(
        &services,
        hostile::OWN_CORNER,
        &[
            ("STRATA_MAX_CONCURRENT_REQUESTS", "2"),
            ("STRATA_BODY_READ_TIMEOUT_SECONDS", "2"),
        ],
    );
    let mut tricklers = Vec::new();
    for _ in 0..10 {
        let mut stream = connect(&host).await;
        stream
            .write_all(
                b"POST /hostile/ok HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nx",
            )
            .await
            .expect("write");
        tricklers.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..10 {
        let reply = host.get("/hostile/ok").await;
        assert_eq!(
            reply.status, 200,
            "request {i} from another client: {}",
            reply.body
        );
    }
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), tricklers[0].read(&mut answer))
        .await
        .expect("the trickler is answered")
        .unwrap_or(0);
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

/// The send timeout the stall tests give the host.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// How long past the send timeout a stalled response may outlive it: the
/// watchdog's own lateness on a loaded machine, with room to spare. Well
/// short of every other limit, so only the send timeout can end a stall
/// in time.
const STALL_MARGIN: Duration = Duration::from_secs(4);

/// A host whose only short limit is the send timeout: the first-request,
/// idle and no-progress limits are a minute, so a stalled response ended
/// in seconds was ended by the send timeout and nothing else.
fn host_with_only_a_send_timeout(services: &Services) -> Host {
    let send_timeout = SEND_TIMEOUT.as_secs().to_string();
    services.host_with(&[
        ("STRATA_SEND_TIMEOUT_SECONDS", &send_timeout),
        ("STRATA_HEADER_READ_TIMEOUT_SECONDS", "60"),
        ("STRATA_IDLE_TIMEOUT_SECONDS", "60"),
        ("STRATA_BODY_IDLE_TIMEOUT_SECONDS", "60"),
    ])
}

/// Opens `path` on `attacker`, reads what of the body the window lets
/// through, then keeps the connection busy with `/health` streams opened
/// and reset every 300 ms, as if it were making progress. Returns how long
/// after the response head the host ended the held response, or `None` if
/// it still held it after `patience`.
async fn hold_with_churn(
    mut attacker: h2::client::SendRequest<bytes::Bytes>,
    host: &Host,
    path: &str,
    patience: Duration,
) -> Option<Duration> {
    let held = open_stream(&mut attacker, host, path).await;
    let held = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .expect("a response head arrives")
        .expect("response");
    let head_at = std::time::Instant::now();
    let mut body = held.into_body();
    // What the window lets through is read but never released, so the
    // window never reopens.
    let held_ended = async { while let Some(Ok(_)) = body.data().await {} };
    let churn = async {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let Ok(ready) = attacker.clone().ready().await else {
                return;
            };
            attacker = ready;
            let request = http::Request::get(format!("{}/health", host.url))
                .body(())
                .expect("request");
            match attacker.send_request(request, true) {
                Ok((response, _)) => drop(response),
                Err(_) => return,
            }
        }
    };
    tokio::time::timeout(patience, async {
        tokio::select! {
            () = churn => {},
            () = held_ended => {},
        }
    })
    .await
    .ok()
    .map(|()| head_at.elapsed())
}

/// Waits a little for the host's log to name why it closed a connection.
async fn closing_reason_logged(host: &Host, reason: &str) -> bool {
    for _ in 0..50 {
        if host.log_text().contains(reason) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The stalled response of [`hold_with_churn`] ended within twice the send
/// timeout (plus a margin for a loaded machine), and the send timeout is
/// what the host logged as the reason.
async fn assert_cut_off_by_the_send_timeout(held: Option<Duration>, host: &Host) {
    let held = held.expect("the stalled response is still held after 20 s");
    assert!(
        held <= SEND_TIMEOUT * 2 + STALL_MARGIN,
        "the stalled response was held {held:?}, past its {SEND_TIMEOUT:?} send timeout"
    );
    assert!(
        closing_reason_logged(host, "the client stopped taking a response").await,
        "the send timeout ended it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_streams_do_not_keep_a_stalled_response_alive() {
    let services = Services::start(Backend::Bare).await;
    let host = host_with_only_a_send_timeout(&services);
    let attacker = h2_without_window(&host).await;
    let held = hold_with_churn(attacker, &host, "/metrics", Duration::from_secs(20)).await;
    assert_cut_off_by_the_send_timeout(held, &host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_after_its_first_byte_is_cut_off_despite_new_streams() {
    let services = Services::start(Backend::Bare).await;
    let host = host_with_only_a_send_timeout(&services);
    // One byte of window per stream: the host may start the ~90 KB
    // document, and the client never takes more.
    let attacker = h2_with_window(&host, 1).await;
    let held = hold_with_churn(attacker, &host, "/openapi.json", Duration::from_secs(20)).await;
    assert_cut_off_by_the_send_timeout(held, &host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reading_slowly_but_steadily_gets_the_whole_response() {
    let services = Services::start(Backend::Bare).await;
    let host = host_with_only_a_send_timeout(&services);
    let expected = host.get("/openapi.json").await.body.len();
    assert!(expected > 48 * 1024, "a document of {expected} bytes");
    let mut reader = h2_with_window(&host, 4 * 1024).await;
    let response = open_stream(&mut reader, &host, "/openapi.json").await;
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("a response head arrives")
        .expect("response");
    assert_eq!(response.status(), 200);
    let started = std::time::Instant::now();
    let mut body = response.into_body();
    // 16 KiB/s: the whole document takes longer than the send timeout,
    // while each 16 KiB of it takes half of one.
    let mut tick = tokio::time::interval(Duration::from_millis(125));
    let (mut received, mut unreleased) = (0usize, 0usize);
    loop {
        tokio::select! {
            chunk = body.data() => match chunk {
                Some(Ok(chunk)) => {
                    received += chunk.len();
                    unreleased += chunk.len();
                }
                Some(Err(e)) => panic!("cut off after {received} bytes, {:?}: {e}", started.elapsed()),
                None => break,
            },
            _ = tick.tick() => {
                let release = unreleased.min(2 * 1024);
                if release > 0 {
                    body.flow_control().release_capacity(release).expect("release");
                    unreleased -= release;
                }
            }
        }
    }
    assert_eq!(received, expected);
    assert!(
        started.elapsed() > SEND_TIMEOUT,
        "the read outlasted the send timeout: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_connections_leaves_descriptors_for_the_database() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile::host_wrapped(
        &services,
        hostile::OWN_CORNER,
        &[("STRATA_HEADER_READ_TIMEOUT_SECONDS", "60")],
        "ulimit -Sn 512 && ulimit -Hn 512 && exec \"$0\"",
    );
    let mut probe = connect(&host).await;
    let mut flood = Vec::new();
    for _ in 0..600 {
        match TcpStream::connect(host.url.trim_start_matches("http://")).await {
            Ok(stream) => flood.push(stream),
            Err(_) => break,
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    probe
        .write_all(b"POST /hostile/sql-query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 8\r\n\r\nSELECT 1")
        .await
        .expect("write");
    let mut answer = vec![0u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(10), probe.read(&mut answer))
        .await
        .expect("answered")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.contains("\"outcome\":\"ok\""), "{answer}");
    assert!(
        host.log_text().contains("lowered"),
        "the caps were fitted to the open-file limit"
    );
    drop(flood);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_naming_two_hosts_is_refused() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let admin = host.admin_url.clone().expect("admin listener");
    let mut stream = TcpStream::connect(admin.trim_start_matches("http://"))
        .await
        .expect("connect");
    stream
        .write_all(
            b"GET /admin/components HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",
        )
        .await
        .expect("write");
    let mut answer = vec![0u8; 512];
    let n = stream.read(&mut answer).await.expect("read");
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 400"));
    let mut stream = TcpStream::connect(admin.trim_start_matches("http://"))
        .await
        .expect("connect");
    stream
        .write_all(b"GET http://evil.example/admin/components HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let n = stream.read(&mut answer).await.expect("read");
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 403"),
        "the absolute-form authority is the one addressed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_cannot_take_all_admission() {
    let services = Services::start(Backend::Bare).await;
    let host = hostile::host(
        &services,
        hostile::OWN_CORNER,
        &[("STRATA_MAX_REQUESTS_PER_CONNECTION", "2")],
    );
    let mut attacker = h2_without_window(&host).await;
    let mut spinning = Vec::new();
    for _ in 0..6 {
        spinning.push(open_stream(&mut attacker, &host, "/hostile/loop").await);
    }
    let mut statuses = Vec::new();
    for response in spinning {
        let head = tokio::time::timeout(Duration::from_secs(20), response)
            .await
            .expect("a response head arrives")
            .expect("response");
        statuses.push(head.status().as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [503, 503, 503, 503, 504, 504],
        "two guests ran (to their deadline); the rest were refused at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_sends_a_byte_is_closed() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[("STRATA_HEADER_READ_TIMEOUT_SECONDS", "1")]);
    let mut silent = connect(&host).await;
    assert!(
        closed_within(&mut silent, Duration::from_secs(15)).await,
        "a silent connection stays open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_stalls_inside_its_first_request_head_is_closed() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[("STRATA_HEADER_READ_TIMEOUT_SECONDS", "1")]);
    for partial in [
        &b"GET /health HTTP/1.1\r\nHost: x\r\n"[..],
        b"PRI * HTTP/2.0\r\n",
        b"G",
    ] {
        let mut stream = connect(&host).await;
        stream.write_all(partial).await.expect("write");
        assert!(
            closed_within(&mut stream, Duration::from_secs(15)).await,
            "stalled after {:?}",
            String::from_utf8_lossy(partial)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[("STRATA_IDLE_TIMEOUT_SECONDS", "1")]);
    let mut stream = connect(&host).await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    assert!(
        closed_within(&mut stream, Duration::from_secs(15)).await,
        "an idle kept-alive connection stays open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_at_accept() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host_with(&[
        ("STRATA_MAX_CONNECTIONS", "3"),
        ("STRATA_HEADER_READ_TIMEOUT_SECONDS", "60"),
    ]);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(&host).await);
    }
    // The held connections are accepted in order; give the host a moment to
    // take them before the one over the cap.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut over = connect(&host).await;
    assert!(
        closed_within(&mut over, Duration::from_secs(5)).await,
        "a connection over the cap is served"
    );
    drop(held);
    let mut reply = None;
    for _ in 0..50 {
        if let Ok(response) = http().get(format!("{}/health", host.url)).send().await {
            reply = Some(response.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reply, Some(200), "freed slots serve again");
    let metrics = host.get("/metrics").await.body;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("strata_connections_refused_total ") && !l.ends_with(" 0")),
        "refusals are counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_within_the_grace_period_while_a_client_holds_a_stream() {
    let services = Services::start(Backend::Bare).await;
    let mut host = services.host_with(&[("STRATA_SHUTDOWN_GRACE_SECONDS", "2")]);
    let mut attacker = h2_without_window(&host).await;
    let response = open_stream(&mut attacker, &host, "/health").await;
    let _head = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("a response head arrives")
        .expect("response");
    host.terminate();
    assert!(
        host.wait_for_exit(Duration::from_secs(20)).is_some(),
        "the host waits forever for a stream that cannot finish"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_share_one_metrics_series() {
    let services = Services::start(Backend::Bare).await;
    let host = services.host();
    let long = "X".repeat(30_000);
    let mut methods: Vec<String> = (0..300).map(|i| format!("INVENTED{i}")).collect();
    methods.push(long.clone());
    for method in &methods {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("token");
        let _ = http()
            .request(method, format!("{}/nothing-here", host.url))
            .send()
            .await;
    }
    let metrics = host.get("/metrics").await.body;
    assert!(
        !metrics.contains("INVENTED"),
        "a method became a label value"
    );
    assert!(!metrics.contains(&long[..100]));
    let series = metrics
        .lines()
        .filter(|l| l.starts_with("strata_http_requests_total{") && l.contains("method=\"other\""))
        .count();
    assert_eq!(series, 1, "{metrics}");
}
