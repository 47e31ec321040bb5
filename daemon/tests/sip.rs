//! SIP over real UDP and TCP sockets, with hand-written messages: good, malformed,
//! truncated, oversized, from a stranger, retransmitted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test binary: a step that fails is a failed test"
)]

#[path = "support/daemon.rs"]
mod daemon;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

fn invite(call_id: &str, from: &str, tenant: &str, dialed: &str, extra: &str) -> String {
    format!(
        "INVITE sip:{dialed}@{tenant} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{call_id};rport\r\n\
         Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK-origin\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{from}@{tenant}>;tag=f1\r\n\
         To: <sip:{dialed}@{tenant}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    )
}

fn invite_uri(call_id: &str, from: &str, tenant: &str, request_uri: &str, extra: &str) -> String {
    format!(
        "INVITE {request_uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{from}@{tenant}>;tag=f1\r\n\
         To: <{request_uri}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    )
}

async fn udp_ask(to: SocketAddr, message: &[u8]) -> Option<String> {
    udp_ask_from("127.0.0.1", to, message).await
}

/// Sends one datagram from a socket bound to `from` (a loopback address) and waits up to
/// 500 ms for an answer.
async fn udp_ask_from(from: &str, to: SocketAddr, message: &[u8]) -> Option<String> {
    let socket = UdpSocket::bind((from, 0)).await.unwrap();
    socket.send_to(message, to).await.unwrap();
    let mut buf = vec![0u8; 65536];
    match tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

/// Connects from `from` (a loopback address).
async fn tcp_connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from.parse().unwrap(), 0))?;
    socket.connect(to).await
}

/// Reads one whole answer (up to its blank line) within 2 s; `None` if the stream closed
/// or nothing came.
async fn tcp_read_answer(stream: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&got).into_owned())
}

/// Sends one message on a fresh connection from `from` and reads one answer.
async fn tcp_ask_from(from: &str, to: SocketAddr, message: &[u8]) -> Option<String> {
    let mut stream = tcp_connect_from(from, to).await.ok()?;
    stream.write_all(message).await.ok()?;
    tcp_read_answer(&mut stream).await
}

/// Whether the daemon closed `stream` (EOF or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

fn rss() -> String {
    daemon::rss_kib().map_or("?".into(), |k| format!("{} MiB", k / 1024))
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.split("\r\n").find_map(|l| {
        l.split_once(':')
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    })
}

#[tokio::test]
async fn an_allowed_invite_gets_302_with_the_caller_id() {
    let d = daemon::start(&["127.0.0.1"]).await;
    let msg = invite(
        "c-allow",
        "201",
        "acme",
        "5551234",
        "P-Preferred-Identity: <sip:+15550100000@acme>\r\n",
    );
    let r = udp_ask(d.sip, msg.as_bytes()).await.expect("an answer");
    assert!(r.starts_with("SIP/2.0 302 Moved Temporarily\r\n"), "{r}");
    assert_eq!(header(&r, "Contact"), Some("<sip:5551234@acme>"));
    assert_eq!(
        header(&r, "P-Asserted-Identity"),
        Some("<sip:+15550100000@acme>")
    );
    assert_eq!(
        header(&r, "X-Callgate-Decision"),
        Some("allow; reason=number_permitted; rev=1")
    );
    // RFC 3261 §8.2.6: Vias in order, From, To with a tag, Call-ID, CSeq.
    assert!(
        r.contains("Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-c-allow;rport="),
        "{r}"
    );
    assert!(r.contains("Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK-origin\r\n"));
    assert_eq!(header(&r, "From"), Some("<sip:201@acme>;tag=f1"));
    assert!(
        header(&r, "To")
            .unwrap()
            .starts_with("<sip:5551234@acme>;tag=")
    );
    assert_eq!(header(&r, "Call-ID"), Some("c-allow"));
    assert_eq!(header(&r, "CSeq"), Some("1 INVITE"));
    d.shutdown().await;
}

#[tokio::test]
async fn identity_comes_from_x_callgate_user_else_the_from_extension() {
    let d = daemon::start(&["127.0.0.1"]).await;
    // From 201 is bob's extension; the proxy says the caller is ivan: ivan's rules apply.
    let msg = invite(
        "c-ivan",
        "201",
        "acme",
        "5551234",
        "X-Callgate-User: ivan\r\nX-Callgate-Caller-Id: +15550100000\r\n",
    );
    let r = udp_ask(d.sip, msg.as_bytes()).await.unwrap();
    assert_eq!(
        header(&r, "P-Asserted-Identity"),
        Some("<sip:+15550100600@acme>"),
        "{r}"
    );
    assert!(
        header(&r, "X-Callgate-Decision")
            .unwrap()
            .starts_with("substitute; reason=number_not_permitted")
    );
    // No user header, and From is nobody's extension: denied.
    let msg = invite(
        "c-nobody",
        "999",
        "acme",
        "5551234",
        "P-Preferred-Identity: <sip:+15550100000@acme>\r\n",
    );
    let r = udp_ask(d.sip, msg.as_bytes()).await.unwrap();
    assert!(r.starts_with("SIP/2.0 403 Forbidden"), "{r}");
    assert_eq!(
        header(&r, "X-Callgate-Decision"),
        Some("deny; reason=unknown_user; rev=1")
    );
    d.shutdown().await;
}

#[tokio::test]
async fn an_emergency_call_is_never_refused() {
    let d = daemon::start(&["127.0.0.1"]).await;
    for (from, tenant) in [("204", "acme"), ("999", "acme"), ("1", "nosuchtenant")] {
        let msg = invite(&format!("c-e-{from}-{tenant}"), from, tenant, "911", "");
        let r = udp_ask(d.sip, msg.as_bytes()).await.unwrap();
        assert!(r.starts_with("SIP/2.0 302"), "{from}@{tenant}: {r}");
    }
    d.shutdown().await;
}

#[tokio::test]
async fn a_feature_code_gets_302_with_the_feature_or_403() {
    let d = daemon::start(&["127.0.0.1"]).await;
    let msg = invite(
        "c-f1",
        "101",
        "acme",
        "*46*201*600",
        "X-Callgate-User: carol\r\n",
    );
    let r = udp_ask(d.sip, msg.as_bytes()).await.unwrap();
    assert!(r.starts_with("SIP/2.0 302"), "{r}");
    assert_eq!(
        header(&r, "X-Callgate-Feature"),
        Some("queue_pause_toggle; args=201,sales")
    );
    let msg = invite("c-f2", "102", "acme", "*46*201*600", "");
    let r = udp_ask(d.sip, msg.as_bytes()).await.unwrap();
    assert!(r.starts_with("SIP/2.0 403"), "{r}");
    assert!(
        header(&r, "X-Callgate-Decision")
            .unwrap()
            .starts_with("deny; reason=role_not_allowed")
    );
    d.shutdown().await;
}

#[tokio::test]
async fn options_ack_and_other_methods() {
    let d = daemon::start(&["127.0.0.1"]).await;
    let options = "OPTIONS sip:callgate@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-o\r\n\
                   From: <sip:probe@acme>;tag=p\r\nTo: <sip:callgate@127.0.0.1>\r\nCall-ID: o1\r\nCSeq: 7 OPTIONS\r\n\
                   Content-Length: 0\r\n\r\n";
    let r = udp_ask(d.sip, options.as_bytes()).await.unwrap();
    assert!(r.starts_with("SIP/2.0 200 OK"), "{r}");
    assert_eq!(header(&r, "CSeq"), Some("7 OPTIONS"));
    let ack = "ACK sip:5551234@acme SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-a\r\n\
               From: <sip:101@acme>;tag=f1\r\nTo: <sip:5551234@acme>;tag=x\r\nCall-ID: a1\r\nCSeq: 1 ACK\r\n\r\n";
    assert_eq!(udp_ask(d.sip, ack.as_bytes()).await, None);
    let bye = "BYE sip:5551234@acme SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-b\r\n\
               From: <sip:101@acme>;tag=f1\r\nTo: <sip:5551234@acme>;tag=x\r\nCall-ID: b1\r\nCSeq: 2 BYE\r\n\r\n";
    let r = udp_ask(d.sip, bye.as_bytes()).await.unwrap();
    assert!(r.starts_with("SIP/2.0 405 Method Not Allowed"), "{r}");
    assert!(header(&r, "Allow").unwrap().contains("INVITE"));
    d.shutdown().await;
}

#[tokio::test]
async fn malformed_truncated_and_oversized_messages() {
    let d = daemon::start(&["127.0.0.1"]).await;
    // Addressable garbage: 400 with the echoed headers.
    let bad = "INVITE sip:5551234@acme SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-bad\r\n\
               From: <sip:101@acme>;tag=f1\r\nTo: <sip:5551234@acme>\r\nCall-ID: bad1\r\nCSeq: one INVITE\r\n\
               Content-Length: 0\r\n\r\n";
    let r = udp_ask(d.sip, bad.as_bytes()).await.unwrap();
    assert!(r.starts_with("SIP/2.0 400 Bad Request"), "{r}");
    assert_eq!(header(&r, "Call-ID"), Some("bad1"));
    // Truncated: Content-Length promises more than arrived.
    let msg = invite("c-trunc", "101", "acme", "5551234", "")
        .replace("Content-Length: 0", "Content-Length: 200");
    let r = udp_ask(d.sip, msg.as_bytes()).await.unwrap();
    assert!(r.starts_with("SIP/2.0 400"), "{r}");
    // Missing Call-ID: RFC 4475 §3.3.1 "Ideally, it will respond with a 400 Bad Request
    // error." The client matches the answer by Via branch and CSeq (RFC 3261 §17.1.3); the
    // Call-ID every response carries (§8.1.1) is filled in, never made of caller text.
    let msg = invite("c-noid", "101", "acme", "5551234", "").replace("Call-ID: c-noid\r\n", "");
    let r = udp_ask(d.sip, msg.as_bytes()).await.unwrap();
    assert!(r.starts_with("SIP/2.0 400 Bad Request"), "{r}");
    assert!(
        header(&r, "Call-ID").unwrap().starts_with("callgate-"),
        "{r}"
    );
    assert_eq!(header(&r, "CSeq"), Some("1 INVITE"));
    // Not SIP at all: dropped.
    assert_eq!(udp_ask(d.sip, b"\x00\x01\x02hello").await, None);
    // Oversized: 513.
    let big = invite(
        "c-big",
        "101",
        "acme",
        "5551234",
        &format!("X-Padding: {}\r\n", "a".repeat(20_000)),
    );
    let r = udp_ask(d.sip, big.as_bytes()).await.unwrap();
    assert!(r.starts_with("SIP/2.0 513"), "{r}");
    // And the daemon still answers good requests.
    let msg = invite(
        "c-after",
        "201",
        "acme",
        "5551234",
        "P-Preferred-Identity: <sip:+15550100000@acme>\r\n",
    );
    assert!(
        udp_ask(d.sip, msg.as_bytes())
            .await
            .unwrap()
            .starts_with("SIP/2.0 302")
    );
    d.shutdown().await;
}

#[tokio::test]
async fn a_stranger_is_never_answered() {
    let d = daemon::start(&["10.0.0.0/8"]).await;
    let msg = invite(
        "c-stranger",
        "201",
        "acme",
        "5551234",
        "P-Preferred-Identity: <sip:+15550100000@acme>\r\n",
    );
    assert_eq!(udp_ask(d.sip, msg.as_bytes()).await, None);
    // Not even a malformed message or an emergency call: nothing goes back to a stranger.
    assert_eq!(udp_ask(d.sip, b"INVITE sip:911@acme SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n").await, None);
    d.shutdown().await;
}

#[tokio::test]
async fn a_retransmitted_invite_gets_the_same_answer() {
    let d = daemon::start(&["127.0.0.1"]).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let msg = invite(
        "c-rtx",
        "201",
        "acme",
        "5551234",
        "P-Preferred-Identity: <sip:+15550100000@acme>\r\n",
    );
    let mut answers = Vec::new();
    for _ in 0..3 {
        socket.send_to(msg.as_bytes(), d.sip).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let (n, _) = tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        answers.push(buf[..n].to_vec());
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[1], answers[2]);
    d.shutdown().await;
}

#[tokio::test]
async fn tcp_carries_several_messages_and_survives_garbage() {
    let d = daemon::start(&["127.0.0.1"]).await;
    let mut stream = TcpStream::connect(d.sip).await.unwrap();
    let one = invite(
        "t1",
        "201",
        "acme",
        "5551234",
        "P-Preferred-Identity: <sip:+15550100000@acme>\r\n",
    )
    .replace("UDP", "TCP");
    let two = invite("t2", "102", "acme", "*46*201*600", "").replace("UDP", "TCP");
    // Two pipelined messages, the second split across writes, with a keep-alive between.
    stream
        .write_all(format!("{one}\r\n\r\n{}", &two[..40]).as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(&two.as_bytes()[40..]).await.unwrap();
    let mut got = String::new();
    let mut buf = vec![0u8; 8192];
    while got.matches("SIP/2.0 ").count() < 2 {
        let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed early: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.starts_with("SIP/2.0 302"), "{got}");
    assert!(got.contains("SIP/2.0 403"), "{got}");
    // Garbage that can't be framed closes the connection; other connections carry on.
    stream
        .write_all(b"INVITE x SIP/2.0\r\nContent-Length: nope\r\n\r\n")
        .await
        .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "{}", String::from_utf8_lossy(&buf[..n]));
    let mut fresh = TcpStream::connect(d.sip).await.unwrap();
    fresh
        .write_all(one.replace("t1", "t3").as_bytes())
        .await
        .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(2), fresh.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 302"));
    d.shutdown().await;
}

#[tokio::test]
async fn a_stalled_tcp_client_does_not_stall_others() {
    let d = daemon::start(&["127.0.0.1"]).await;
    // Half a message, then silence.
    let mut stalled = TcpStream::connect(d.sip).await.unwrap();
    stalled
        .write_all(b"INVITE sip:1@acme SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1")
        .await
        .unwrap();
    let msg = invite(
        "c-other",
        "201",
        "acme",
        "5551234",
        "P-Preferred-Identity: <sip:+15550100000@acme>\r\n",
    );
    let r = udp_ask(d.sip, msg.as_bytes()).await.unwrap();
    assert!(r.starts_with("SIP/2.0 302"));
    d.shutdown().await;
}

/// A request to a real peer that must get `expect` while an attack runs.
async fn peer_is_answered(from: &str, sip: SocketAddr, call_id: &str) {
    let msg = invite(
        call_id,
        "201",
        "acme",
        "5551234",
        "P-Preferred-Identity: <sip:+15550100000@acme>\r\n",
    );
    let r = udp_ask_from(from, sip, msg.as_bytes())
        .await
        .unwrap_or_else(|| panic!("{call_id}: the peer got no answer"));
    assert!(r.starts_with("SIP/2.0 302"), "{call_id}: {r}");
}

#[tokio::test]
async fn a_stranger_s_flood_is_dropped_unanswered_and_counted_while_a_peer_is_answered() {
    let metrics = callgate_daemon::telemetry::install();
    // Only 127.0.0.2 is a peer; the attacker sends from 127.0.0.1.
    let d = daemon::start(&["127.0.0.2/32"]).await;
    // The reproduced attack: a 14 KB OPTIONS of tiny Vias drew a 56 KB 403 (4x reflection).
    let vias = vec!["SIP/2.0/UDP a"; 1_000].join(",");
    let options = format!(
        "OPTIONS sip:x@acme SIP/2.0\r\nv: {vias}\r\nFrom: <sip:a@acme>;tag=1\r\nTo: <sip:x@acme>\r\n\
         Call-ID: flood\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    assert!(options.len() > 14_000 && options.len() < 16_384);
    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = d.sip;
    let flood = tokio::spawn({
        let options = options.clone();
        async move {
            for _ in 0..2_000 {
                let _ = attacker.send_to(options.as_bytes(), target).await;
                tokio::task::yield_now().await;
            }
            // Whatever came back: nothing should have.
            let mut buf = vec![0u8; 65_536];
            tokio::time::timeout(Duration::from_millis(300), attacker.recv_from(&mut buf))
                .await
                .is_ok()
        }
    });
    for i in 0..20 {
        peer_is_answered("127.0.0.2", d.sip, &format!("c-during-flood-{i}")).await;
    }
    assert!(!flood.await.unwrap(), "the stranger got an answer");
    assert_eq!(udp_ask(d.sip, options.as_bytes()).await, None);
    // From the peer, its ~20 KiB answer is past the 16 KiB cap: not sent either.
    let r = udp_ask_from("127.0.0.2", d.sip, options.as_bytes()).await;
    assert_eq!(r, None);
    peer_is_answered("127.0.0.2", d.sip, "c-after-flood").await;
    if let Some(handle) = metrics {
        let text = handle.render();
        assert!(
            text.lines()
                .any(|l| l.starts_with("callgate_sip_dropped_total")
                    && l.contains("why=\"not_a_peer\"")),
            "{text}"
        );
    }
    d.shutdown().await;
}

#[tokio::test]
async fn idle_half_header_connections_from_a_stranger_are_closed_at_accept() {
    // Few slots, so a starvation would show; only 127.0.0.2 is a peer.
    let d = daemon::start_with(&["127.0.0.2/32"], |c| c.max_tcp_connections = 32).await;
    let mut idle = Vec::new();
    for _ in 0..1_024 {
        let Ok(mut s) = TcpStream::connect(d.sip).await else {
            continue; // a full accept queue refuses some: that is the attack failing too
        };
        let _ = s
            .write_all(b"INVITE sip:1@acme SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1")
            .await;
        idle.push(s);
    }
    // A real peer is answered over TCP and UDP while they are all open.
    let msg = invite(
        "c-tcp-peer",
        "201",
        "acme",
        "5551234",
        "P-Preferred-Identity: <sip:+15550100000@acme>\r\n",
    )
    .replace("UDP", "TCP");
    let r = tcp_ask_from("127.0.0.2", d.sip, msg.as_bytes())
        .await
        .expect("the peer is answered over TCP");
    assert!(r.starts_with("SIP/2.0 302"), "{r}");
    peer_is_answered("127.0.0.2", d.sip, "c-udp-peer-during").await;
    // Every stranger's connection was closed without a word.
    for s in idle.iter_mut().take(50) {
        assert!(closed_within(s, Duration::from_secs(5)).await);
    }
    d.shutdown().await;
}

#[tokio::test]
async fn a_peer_s_connections_are_capped_per_address_and_half_messages_time_out() {
    let d = daemon::start_with(&["127.0.0.0/8"], |c| {
        c.max_tcp_connections_per_peer = 4;
        c.sip_message_deadline_ms = 300;
    })
    .await;
    // An idle connection (no byte sent) is subject to the idle timeout only.
    let mut quiet = tcp_connect_from("127.0.0.4", d.sip).await.unwrap();
    // 127.0.0.3 fills its 4 slots with half messages; its 5th connection is closed at once.
    let mut half = Vec::new();
    for _ in 0..4 {
        let mut s = tcp_connect_from("127.0.0.3", d.sip).await.unwrap();
        s.write_all(b"INVITE sip:1@acme SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.3")
            .await
            .unwrap();
        half.push(s);
    }
    // Accept order isn't connect order: the four are counted once one of them is served.
    let mut fifth_closed = false;
    for _ in 0..20 {
        let mut fifth = tcp_connect_from("127.0.0.3", d.sip).await.unwrap();
        if closed_within(&mut fifth, Duration::from_millis(200)).await {
            fifth_closed = true;
            break;
        }
    }
    assert!(fifth_closed, "a 5th connection from one address was kept");
    // Another address is served meanwhile.
    let msg = invite(
        "c-cap-other",
        "201",
        "acme",
        "5551234",
        "P-Preferred-Identity: <sip:+15550100000@acme>\r\n",
    )
    .replace("UDP", "TCP");
    let r = tcp_ask_from("127.0.0.2", d.sip, msg.as_bytes())
        .await
        .unwrap();
    assert!(r.starts_with("SIP/2.0 302"), "{r}");
    // The half messages never complete: each is closed once its deadline passes.
    for s in &mut half {
        assert!(
            closed_within(s, Duration::from_secs(10)).await,
            "a half message was kept"
        );
    }
    // Their slots are free again, and the quiet connection still works.
    let r = tcp_ask_from(
        "127.0.0.3",
        d.sip,
        msg.replace("c-cap-other", "c-cap-again").as_bytes(),
    )
    .await
    .unwrap();
    assert!(r.starts_with("SIP/2.0 302"), "{r}");
    quiet
        .write_all(msg.replace("c-cap-other", "c-quiet").as_bytes())
        .await
        .unwrap();
    let r = tcp_read_answer(&mut quiet)
        .await
        .expect("the quiet connection was kept");
    assert!(r.starts_with("SIP/2.0 302"), "{r}");
    d.shutdown().await;
}

#[tokio::test]
async fn a_dribbled_message_is_cut_off_at_its_deadline() {
    let d = daemon::start_with(&["127.0.0.1"], |c| c.sip_message_deadline_ms = 300).await;
    let mut s = TcpStream::connect(d.sip).await.unwrap();
    let msg = invite("c-drip", "201", "acme", "5551234", "").replace("UDP", "TCP");
    // One byte every 50 ms: idle never, whole never (the message takes ~14 s).
    let mut closed = false;
    for b in msg.as_bytes() {
        if s.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        if closed_within(&mut s, Duration::from_millis(50)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "the dribbled message was read whole");
    peer_is_answered("127.0.0.1", d.sip, "c-after-drip").await;
    d.shutdown().await;
}

#[tokio::test]
async fn the_retransmission_cache_is_bounded_in_bytes() {
    use callgate_daemon::sip::{self, Limits, Sip};
    let cap = 2 << 20;
    let sip_endpoint = Sip::with_limits(
        daemon::demo_state(&["127.0.0.1"]),
        Limits {
            retransmit_cache_bytes: cap,
            ..Limits::default()
        },
    );
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sip::run_udp(socket, sip_endpoint.clone(), async {
        let _ = stopped.await;
    }));
    // The reproduced attack: near-16 KB INVITEs whose answers echo ~15 KB of Vias each.
    let before = rss();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let vias: String = (0..15)
        .map(|i| {
            format!(
                "Via: SIP/2.0/UDP 10.0.0.{i}:5060;branch=z9hG4bK-{}\r\n",
                "p".repeat(950)
            )
        })
        .collect();
    let mut buf = vec![0u8; 65_536];
    let n = 1_500; // ~22 MiB of answers: ten times the cap
    for i in 0..n {
        let msg = invite(&format!("c-cache-{i}"), "201", "acme", "5551234", "").replacen(
            "Max-Forwards",
            &format!("{vias}Max-Forwards"),
            1,
        );
        assert!(msg.len() < 16 * 1024);
        client.send_to(msg.as_bytes(), addr).await.unwrap();
        // One at a time (each answered): the kernel buffer never drops the flood.
        let (got, _) = tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        assert!(buf[..got].starts_with(b"SIP/2.0 302"));
    }
    let (entries, bytes) = sip_endpoint.retransmit_cache_usage();
    println!(
        "retransmission cache: {entries} answers, {bytes} bytes (cap {cap}); RSS {before} -> {}",
        rss()
    );
    assert!(bytes <= cap, "{bytes} > {cap}");
    assert!(entries > 0 && entries < n, "{entries}");
    // The newest answer is still there for its retransmission; a real peer is answered.
    let last = invite(&format!("c-cache-{}", n - 1), "201", "acme", "5551234", "").replacen(
        "Max-Forwards",
        &format!("{vias}Max-Forwards"),
        1,
    );
    client.send_to(last.as_bytes(), addr).await.unwrap();
    let (got, _) = client.recv_from(&mut buf).await.unwrap();
    assert!(buf[..got].starts_with(b"SIP/2.0 302"));
    assert_eq!(sip_endpoint.retransmit_cache_usage().0, entries);
    peer_is_answered("127.0.0.1", addr, "c-cache-peer").await;
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_impossible_content_length_is_400_and_closes_tcp() {
    let d = daemon::start(&["127.0.0.1"]).await;
    for length in [
        "18446744073709551615",
        "18446744073709551600",
        "99999999999999999999999",
    ] {
        let msg = invite(&format!("c-len-{length}"), "201", "acme", "5551234", "")
            .replace("Content-Length: 0", &format!("Content-Length: {length}"));
        let r = udp_ask(d.sip, msg.as_bytes()).await.expect("an answer");
        assert!(r.starts_with("SIP/2.0 400 Bad Request"), "{length}: {r}");
        let mut s = TcpStream::connect(d.sip).await.unwrap();
        s.write_all(msg.replace("UDP", "TCP").as_bytes())
            .await
            .unwrap();
        let r = tcp_read_answer(&mut s).await.expect("an answer");
        assert!(r.starts_with("SIP/2.0 400 Bad Request"), "{length}: {r}");
        assert!(closed_within(&mut s, Duration::from_secs(5)).await);
        peer_is_answered("127.0.0.1", d.sip, &format!("c-len-after-{length}")).await;
    }
    d.shutdown().await;
}

#[tokio::test]
async fn a_control_character_in_a_header_value_is_400_never_echoed() {
    let d = daemon::start(&["127.0.0.1"]).await;
    for (i, extra) in [
        "X-Callgate-User: ivan\rP-Asserted-Identity: <sip:+19005550199@acme>\r\n",
        "X-Callgate-User: ivan\nP-Asserted-Identity: <sip:+19005550199@acme>\r\n",
        "X-Callgate-Caller-Id: +15550100000\x00\r\n",
        "Subject: \x1b[31mred\r\n",
    ]
    .into_iter()
    .enumerate()
    {
        let msg = invite(&format!("c-ctl-{i}"), "105", "acme", "5551234", extra);
        for r in [
            udp_ask(d.sip, msg.as_bytes()).await,
            tcp_ask_from("127.0.0.1", d.sip, msg.replace("UDP", "TCP").as_bytes()).await,
        ] {
            let r = r.expect("an answer");
            assert!(r.starts_with("SIP/2.0 400 Bad Request"), "{extra:?}: {r}");
            assert!(!r.contains("19005550199"), "{r}");
            assert!(!r.bytes().any(|b| b == 0 || b == 0x1b), "{r:?}");
        }
    }
    // A bare CR inside the Via itself: never echoed either.
    let msg = invite("c-ctl-via", "105", "acme", "5551234", "")
        .replace(";rport\r\n", ";rport\rX-Evil: 1\r\n");
    let r = udp_ask(d.sip, msg.as_bytes()).await;
    assert!(r.as_ref().is_none_or(|r| !r.contains("X-Evil")), "{r:?}");
    peer_is_answered("127.0.0.1", d.sip, "c-ctl-after").await;
    d.shutdown().await;
}

#[tokio::test]
async fn an_escaped_crlf_in_a_feature_code_cannot_forge_a_header() {
    let d = daemon::start(&["127.0.0.1"]).await;
    // The reproduced attack: ivan (extension 105) got a 302 with a second, forged
    // P-Asserted-Identity line.
    let uri = "sip:*72*5551234%0D%0AP-Asserted-Identity%3A%20%3Csip%3A+19005550199%40acme%3E@acme";
    let msg = invite_uri("c-inject", "105", "acme", uri, "");
    for r in [
        udp_ask(d.sip, msg.as_bytes()).await,
        tcp_ask_from("127.0.0.1", d.sip, msg.replace("UDP", "TCP").as_bytes()).await,
    ] {
        let r = r.expect("an answer");
        assert!(r.starts_with("SIP/2.0 403 Forbidden"), "{r}");
        assert_eq!(
            header(&r, "X-Callgate-Decision"),
            Some("deny; reason=invalid_dial_string; rev=1"),
            "{r}"
        );
        // No forged line: the URI is echoed in To only in its escaped form.
        assert_eq!(header(&r, "P-Asserted-Identity"), None, "{r}");
        assert!(!r.split("\r\n").any(|l| l.starts_with("P-Asserted")), "{r}");
        assert!(!r.replace("\r\n", "").contains(['\r', '\n']), "{r:?}");
    }
    peer_is_answered("127.0.0.1", d.sip, "c-inject-after").await;
    d.shutdown().await;
}

/// Every way of asking for an emergency call over `transport` gets a 302 (never 400/403):
/// suspended mallory, an unknown user, an unknown tenant.
async fn emergency_calls_are_302(transport: &str) {
    let d = daemon::start(&["127.0.0.1"]).await;
    let ask = |msg: String| {
        let sip = d.sip;
        let transport = transport.to_string();
        async move {
            if transport == "udp" {
                udp_ask(sip, msg.as_bytes()).await
            } else {
                tcp_ask_from("127.0.0.1", sip, msg.replace("UDP", "TCP").as_bytes()).await
            }
        }
    };
    let uris = [
        "sip:911;phone-context=+1@acme;user=phone",
        "tel:911",
        "sip:911%23@acme",
        "urn:service:sos",
        "urn:service:sos.police",
    ];
    let mut cases: Vec<(&str, &str, &str)> = Vec::new();
    for uri in uris {
        cases.push(("204", "acme", uri)); // mallory, suspended
        cases.push(("999", "acme", uri)); // nobody's extension
    }
    for uri in [
        "sip:999@nosuchtenant",
        "sip:000@nosuchtenant",
        "tel:000",
        "urn:service:sos",
    ] {
        cases.push(("1", "nosuchtenant", uri));
    }
    for (i, (from, tenant, uri)) in cases.into_iter().enumerate() {
        let r = ask(invite_uri(
            &format!("c-sos-{transport}-{i}"),
            from,
            tenant,
            uri,
            "",
        ))
        .await
        .unwrap_or_else(|| panic!("{from}@{tenant} → {uri}: no answer"));
        assert!(r.starts_with("SIP/2.0 302"), "{from}@{tenant} → {uri}: {r}");
        assert_eq!(
            header(&r, "Contact"),
            Some(format!("<{uri}>").as_str()),
            "{r}"
        );
        assert!(
            header(&r, "X-Callgate-Decision")
                .is_some_and(|h| h.starts_with("allow") || h.starts_with("substitute")),
            "{r}"
        );
    }
    // Malformed INVITEs to an emergency target: still 302, no caller ID, never 400.
    let good = invite_uri(
        &format!("c-sos-bad-{transport}"),
        "204",
        "acme",
        "urn:service:sos",
        "",
    );
    for (what, msg) in [
        (
            "no From",
            good.replace("From: <sip:204@acme>;tag=f1\r\n", ""),
        ),
        (
            "a From that isn't a URI",
            good.replace("<sip:204@acme>", "nonsense"),
        ),
        (
            "a bad CSeq",
            good.replace("CSeq: 1 INVITE", "CSeq: one INVITE"),
        ),
        (
            "a CSeq of another method",
            good.replace("CSeq: 1 INVITE", "CSeq: 1 BYE"),
        ),
        ("no To", good.replace("To: <urn:service:sos>\r\n", "")),
        (
            "no Call-ID",
            good.replace(&format!("Call-ID: c-sos-bad-{transport}\r\n"), ""),
        ),
        (
            "a control character",
            good.replace("Max-Forwards: 70", "Max-Forwards: 7\x010"),
        ),
    ] {
        let r = ask(msg)
            .await
            .unwrap_or_else(|| panic!("{what}: no answer"));
        assert!(r.starts_with("SIP/2.0 302"), "{what}: {r}");
        assert_eq!(
            header(&r, "Contact"),
            Some("<urn:service:sos>"),
            "{what}: {r}"
        );
        assert_eq!(header(&r, "P-Asserted-Identity"), None, "{what}: {r}");
        assert_eq!(
            header(&r, "X-Callgate-Decision"),
            Some("allow; reason=emergency_call; rev=1"),
            "{what}: {r}"
        );
        assert!(
            header(&r, "CSeq").is_some_and(|c| c.ends_with(" INVITE")),
            "{what}: {r}"
        );
        assert!(
            header(&r, "Call-ID").is_some_and(|c| !c.is_empty()),
            "{what}: {r}"
        );
    }
    // The same malformed INVITE to a non-emergency target is 400.
    let r = ask(
        invite_uri("c-bad-plain", "204", "acme", "sip:5551234@acme", "")
            .replace("CSeq: 1 INVITE", "CSeq: one INVITE"),
    )
    .await
    .unwrap();
    assert!(r.starts_with("SIP/2.0 400"), "{r}");
    d.shutdown().await;
}

#[tokio::test]
async fn emergency_calls_are_302_over_udp() {
    emergency_calls_are_302("udp").await;
}

#[tokio::test]
async fn emergency_calls_are_302_over_tcp() {
    emergency_calls_are_302("tcp").await;
}
