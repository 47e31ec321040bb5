//! An HTTP caller-ID check over loopback: a keep-alive client, a real daemon.
//! `cargo bench -p callgate-daemon --bench http`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a bench: a failed step is a broken bench, not a state to recover from"
)]

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use callgate_daemon::config::{Config, Peers};
use callgate_daemon::serve::{DEMO_DIRECTORY, Daemon};
use callgate_daemon::state::State;
use callgate_daemon::writer::Writer;
use criterion::{Criterion, criterion_group, criterion_main};

/// Sends one request on a kept-alive connection and reads the whole response.
fn ask(stream: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> usize {
    stream.write_all(request).expect("write");
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).expect("read");
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return buf.len();
            }
        }
    }
}

fn http_check(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let addr: SocketAddr = runtime.block_on(async {
        let tenants = callgate::directory::parse(DEMO_DIRECTORY).expect("demo directory");
        let writer = Arc::new(Writer::with_tenants(&tenants, 1));
        let state = State::new(writer, None, Peers::default(), Duration::from_millis(200));
        state.set_ready();
        let config = Config {
            http: "127.0.0.1:0".parse().expect("addr"),
            sip: "127.0.0.1:0".parse().expect("addr"),
            ..Config::default()
        };
        let daemon = Daemon::bind(&config, state).await.expect("daemon");
        let addr = daemon.http;
        std::mem::forget(daemon);
        addr
    });
    let body = r#"{"tenant":"acme","user":"bob","requested":"+15550100000","dialed":"5551234"}"#;
    let request = format!(
        "POST /v1/check/caller-id HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut buf = Vec::with_capacity(4096);
    let n = ask(&mut stream, request.as_bytes(), &mut buf);
    assert!(String::from_utf8_lossy(&buf[..n]).contains("\"allow\""));
    c.bench_function("http/caller_id_loopback", |b| {
        b.iter(|| black_box(ask(&mut stream, request.as_bytes(), &mut buf)))
    });
    drop(runtime);
}

criterion_group!(benches, http_check);
criterion_main!(benches);
