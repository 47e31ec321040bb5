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

use callgate_ffi::engine::Outcome;
use callgate_ffi::replica::{Options, Replica};

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

/// Replicas started at once.
const WAVE: usize = 10;

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

    // Started in waves, each once the one before has its snapshot: a few hundred replicas
    // parsing snapshots at once on two cores cannot read them as fast as the daemons write,
    // and a daemon drops a client whose write blocks for seconds.
    let started = Instant::now();
    let mut replicas: Vec<Replica> = Vec::with_capacity(count);
    while replicas.len() < count {
        let wave: Vec<Replica> = (replicas.len()..count.min(replicas.len() + WAVE))
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
        for r in &wave {
            while r.snapshots() == 0 {
                assert!(
                    started.elapsed() < Duration::from_secs(1800),
                    "no snapshot in 30 min"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        replicas.extend(wave);
    }
    eprintln!(
        "fleet: {count} replicas over {} daemons have their snapshot after {:.1?}",
        sockets.len(),
        started.elapsed()
    );

    // Per class of tenant (the first tenant named is the big one): API answers, and the
    // time until the last replica denied; and per daemon, until its last replica did.
    let big = revocations
        .first()
        .and_then(|s| s.split_once('/'))
        .map(|(t, _)| t.to_string())
        .unwrap_or_default();
    let mut classes: std::collections::BTreeMap<&str, (Vec<f64>, Vec<f64>)> = Default::default();
    let mut per_daemon: Vec<Vec<f64>> = vec![Vec::new(); sockets.len()];
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
        let mut flipped = vec![0f64; replicas.len()];
        let mut waiting: Vec<usize> = (0..replicas.len()).collect();
        while !waiting.is_empty() {
            waiting.retain(|&i| {
                if denied(&replicas[i], tenant, user) {
                    flipped[i] = answered.elapsed().as_secs_f64() * 1e3;
                    false
                } else {
                    true
                }
            });
            assert!(
                answered.elapsed() < Duration::from_secs(60),
                "{spec}: replicas never denied"
            );
        }
        let last = flipped.iter().copied().fold(0.0, f64::max);
        for (d, times) in per_daemon.iter_mut().enumerate() {
            let worst = flipped
                .iter()
                .skip(d)
                .step_by(sockets.len())
                .copied()
                .fold(0.0, f64::max);
            times.push(worst);
        }
        println!(
            "{tenant}\t{user}\t{:.2}\t{last:.2}",
            api.as_secs_f64() * 1e3
        );
        let class = if tenant == big {
            "big tenant"
        } else {
            "small tenants"
        };
        let entry = classes.entry(class).or_default();
        entry.0.push(api.as_secs_f64() * 1e3);
        entry.1.push(last);
        std::thread::sleep(Duration::from_millis(20));
    }
    for (class, (mut api, mut last)) in classes {
        api.sort_by(f64::total_cmp);
        last.sort_by(f64::total_cmp);
        eprintln!(
            "fleet: {class}: {} revocations; API answer median {:.1} ms, p99 {:.1} ms; \
             API answer → last of {count} replicas denying: median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            api.len(),
            percentile(&api, 0.5),
            percentile(&api, 0.99),
            percentile(&last, 0.5),
            percentile(&last, 0.99),
            last[last.len() - 1]
        );
    }
    for (d, mut times) in per_daemon.into_iter().enumerate() {
        times.sort_by(f64::total_cmp);
        eprintln!(
            "fleet: replicas of daemon {d}: last denial median {:.1} ms, p99 {:.1} ms",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
}
