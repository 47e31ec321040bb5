//! The fleet run's driver (`scripts/fleet.sh` starts Postgres and the daemons, then this):
//! many libcallgate replicas in one process, spread over the daemons' feed sockets; one-user
//! revocations (`DELETE /v1/tenants/T/users/U`) through one daemon's admin API; for each, the
//! time from the API's answer until the last replica denies that user.
//!
//! ```text
//! fleet HTTP TOKEN REPLICAS SOCKET… -- TENANT/USER…
//! ```
//!
//! Prints one line per revocation (tab-separated: tenant, user, API ms, last replica ms) and
//! a summary per tenant.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a measuring tool: a failure stops it loudly"
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use callgate::engine::Outcome;
use callgate::replica::{Options, Replica};

/// A user's caller-ID answer on one replica: denied once the user is gone.
fn denied(r: &Replica, tenant: &str, user: &str) -> bool {
    r.table()
        .check_caller_id(tenant, user, None, "5551234")
        .outcome
        == Outcome::Deny
}

/// `DELETE path` with a bearer token; the status line.
fn delete(http: &str, token: &str, path: &str) -> String {
    let mut s = TcpStream::connect(http).unwrap();
    write!(
        s,
        "DELETE {path} HTTP/1.1\r\nHost: fleet\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or("").to_string()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args
        .iter()
        .position(|a| a == "--")
        .expect("-- before the revocations");
    let (head, revocations) = (&args[..split], &args[split + 1..]);
    let (http, token, count) = (&head[0], &head[1], head[2].parse::<usize>().unwrap());
    let sockets: Vec<PathBuf> = head[3..].iter().map(PathBuf::from).collect();

    let started = Instant::now();
    let replicas: Vec<Replica> = (0..count)
        .map(|i| {
            Replica::start(Options {
                socket: sockets[i % sockets.len()].clone(),
                name: format!("fleet-{i}"),
                snapshot_wait: Duration::ZERO,
                max_backoff: Duration::from_millis(500),
            })
            .unwrap()
        })
        .collect();
    for r in &replicas {
        while r.snapshots() == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(900),
                "no snapshot in 15 min"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    eprintln!(
        "fleet: {count} replicas over {} daemons have their snapshot after {:.1?}",
        sockets.len(),
        started.elapsed()
    );

    let mut by_tenant: std::collections::BTreeMap<String, (Vec<f64>, Vec<f64>)> =
        Default::default();
    for spec in revocations {
        let (tenant, user) = spec.split_once('/').expect("TENANT/USER");
        assert!(
            replicas.iter().all(|r| !denied(r, tenant, user)),
            "{tenant}/{user} is denied before its revocation"
        );
        let t = Instant::now();
        let status = delete(http, token, &format!("/v1/tenants/{tenant}/users/{user}"));
        let api = t.elapsed();
        assert!(status.contains(" 200 "), "{spec}: {status}");
        let answered = Instant::now();
        let mut waiting: Vec<&Replica> = replicas.iter().collect();
        while !waiting.is_empty() {
            waiting.retain(|r| !denied(r, tenant, user));
            assert!(
                answered.elapsed() < Duration::from_secs(60),
                "{spec}: replicas never denied"
            );
        }
        let last = answered.elapsed();
        println!(
            "{tenant}\t{user}\t{:.2}\t{:.2}",
            api.as_secs_f64() * 1e3,
            last.as_secs_f64() * 1e3
        );
        let entry = by_tenant.entry(tenant.to_string()).or_default();
        entry.0.push(api.as_secs_f64() * 1e3);
        entry.1.push(last.as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(20));
    }
    for (tenant, (mut api, mut last)) in by_tenant {
        api.sort_by(f64::total_cmp);
        last.sort_by(f64::total_cmp);
        eprintln!(
            "fleet: {tenant}: {} revocations; API answer median {:.1} ms p99 {:.1} ms; \
             API answer → last of {count} replicas denying: median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            api.len(),
            percentile(&api, 0.5),
            percentile(&api, 0.99),
            percentile(&last, 0.5),
            percentile(&last, 0.99),
            last[last.len() - 1]
        );
    }
}
