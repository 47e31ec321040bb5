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
use tokio::net::{TcpStream, UdpSocket};

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

async fn udp_ask(to: SocketAddr, message: &[u8]) -> Option<String> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(message, to).await.unwrap();
    let mut buf = vec![0u8; 65536];
    match tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
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
    // Missing Call-ID: unaddressable, dropped.
    let msg = invite("c-noid", "101", "acme", "5551234", "").replace("Call-ID: c-noid\r\n", "");
    assert_eq!(udp_ask(d.sip, msg.as_bytes()).await, None);
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
async fn a_stranger_gets_403_without_a_decision() {
    let d = daemon::start(&["10.0.0.0/8"]).await;
    let msg = invite(
        "c-stranger",
        "201",
        "acme",
        "5551234",
        "P-Preferred-Identity: <sip:+15550100000@acme>\r\n",
    );
    let r = udp_ask(d.sip, msg.as_bytes()).await.unwrap();
    assert!(r.starts_with("SIP/2.0 403 Forbidden"), "{r}");
    assert_eq!(header(&r, "X-Callgate-Decision"), None);
    assert_eq!(header(&r, "P-Asserted-Identity"), None);
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
