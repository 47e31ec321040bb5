//! The C entry points, called through the C ABI from Rust, on a replica of 1,000 tenants of
//! 1,000 users (1,000,000 users) that a live in-process daemon fed over its socket: the
//! caller-ID check on one thread, and on 4 threads at once. Also prints how long the
//! snapshot took to arrive and how long a change takes to reach the replica at that size;
//! a denial (which also queues an audit record), and the audit queue alone.
//!
//! `cargo bench -p callgate-ffi --bench ffi`

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    reason = "bench inputs are generated to fit"
)]

use std::ffi::{CString, c_char};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callgate_daemon::config::{Config, Peers};
use callgate_daemon::serve::Daemon;
use callgate_daemon::state::State;
use callgate_daemon::writer::Writer;
use callgate_ffi::audit::{AuditQueue, Input};
use callgate_ffi::engine::model::Tenant;
use callgate_ffi::engine::{DecisionKind, Reason};
use callgate_ffi::{
    CALLGATE_CALLER_ID_MAX, callgate_caller_id, callgate_check_caller_id, callgate_client,
    callgate_client_free, callgate_client_new, callgate_client_options, callgate_client_revision,
    callgate_outcome, callgate_result,
};
use criterion::{Criterion, criterion_group, criterion_main};

const TENANTS: usize = 1_000;
#[path = "../../benches/support/platform.rs"]
mod platform;

use callgate_ffi::engine::model;
use platform::{USERS_PER_TENANT, tenant, walk};

#[derive(Clone, Copy)]
struct Client(*mut callgate_client);
// SAFETY: every check function may be called from any thread at once (the API's contract).
unsafe impl Send for Client {}
unsafe impl Sync for Client {}

/// Check inputs as C strings, all in one arena, in a pseudo-random walk over every user.
struct Cases {
    _arena: Vec<u8>,
    ptrs: Vec<[*const c_char; 3]>,
}
// SAFETY: the pointers point into the arena, which is never written after construction.
unsafe impl Send for Cases {}
unsafe impl Sync for Cases {}

fn cases(data: &[Tenant], n: usize) -> Cases {
    let mut arena = Vec::new();
    let mut offsets = Vec::with_capacity(n);
    for r in walk().take(n) {
        let t = &data[r % data.len()];
        let j = (r >> 20) % USERS_PER_TENANT;
        let mut push = |s: &str| {
            let at = arena.len();
            arena.extend_from_slice(s.as_bytes());
            arena.push(0);
            at
        };
        offsets.push([
            push(&t.id),
            push(&t.users[j].id),
            push(&t.numbers[j + 1].number),
        ]);
    }
    let base = arena.as_ptr().cast::<c_char>();
    // SAFETY: every offset is within the arena.
    let ptrs = offsets
        .iter()
        .map(|o| o.map(|at| unsafe { base.add(at) }))
        .collect();
    Cases {
        _arena: arena,
        ptrs,
    }
}

#[inline]
fn check(client: Client, case: &[*const c_char; 3]) -> u32 {
    let mut d = callgate_caller_id::default();
    let mut buf = [0 as c_char; CALLGATE_CALLER_ID_MAX];
    let mut n = 0usize;
    // SAFETY: valid client and NUL-terminated strings; buffers of their stated sizes.
    let r = unsafe {
        callgate_check_caller_id(
            client.0,
            case[0],
            case[1],
            case[2],
            black_box(c"15551234567".as_ptr()),
            &mut d,
            buf.as_mut_ptr(),
            buf.len(),
            &mut n,
        )
    };
    debug_assert_eq!(r, callgate_result::Ok);
    d.outcome
}

fn revision(client: Client) -> u64 {
    let mut r = 0;
    // SAFETY: a live client.
    unsafe { callgate_client_revision(client.0, &mut r) };
    r
}

fn bench(c: &mut Criterion) {
    let data: Vec<Tenant> = (0..TENANTS).map(tenant).collect();
    let writer = Arc::new(Writer::with_tenants(&data, 1));
    let table = Arc::clone(writer.table());
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("feed.sock");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = Config {
        http: "127.0.0.1:0".parse().unwrap(),
        sip: "127.0.0.1:0".parse().unwrap(),
        feed: Some(socket.clone()),
        ..Config::default()
    };
    let state = State::new(
        Arc::clone(&writer),
        None,
        Peers::parse(&["127.0.0.1"]).unwrap(),
        Duration::from_millis(200),
    );
    let daemon: Daemon = rt.block_on(Daemon::bind(&config, state)).unwrap();

    let path = CString::new(socket.to_str().unwrap()).unwrap();
    let options = callgate_client_options {
        snapshot_wait_ms: 600_000,
        max_backoff_ms: 0,
        name: c"bench".as_ptr(),
    };
    let mut raw = std::ptr::null_mut();
    let started = Instant::now();
    // SAFETY: valid path, options and out pointer.
    assert_eq!(
        unsafe { callgate_client_new(path.as_ptr(), &options, &mut raw) },
        callgate_result::Ok
    );
    let client = Client(raw);
    eprintln!(
        "replica of {} users: snapshot received and compiled in {:.2?}",
        TENANTS * USERS_PER_TENANT,
        started.elapsed()
    );

    // How long one tenant's change takes to reach the replica at this size.
    let mut delays = Vec::new();
    for i in 0..20u64 {
        let mut t = data[(i as usize * 37) % TENANTS].clone();
        t.users[0].grants.numbers.clear();
        let at = Instant::now();
        writer.put(&t, i + 2);
        while revision(client) < i + 2 {
            std::hint::spin_loop();
        }
        delays.push(at.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    delays.sort();
    eprintln!(
        "a change to one 1,000-user tenant reaches the replica in: median {:.2?}, max {:.2?} (20 changes)",
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );

    for (label, n) in [("hot", 64usize), ("random", 1_000_000)] {
        let cases = Arc::new(cases(&data, n));
        assert_eq!(
            check(client, &cases.ptrs[0]),
            callgate_outcome::Allow as u32,
            "a user's own DID is allowed"
        );
        let mut group = c.benchmark_group(format!("ffi_{label}"));
        let mut i = 0usize;
        group.bench_function("caller_id/1_000_000_users", |b| {
            b.iter(|| {
                i = if i + 1 == cases.ptrs.len() { 0 } else { i + 1 };
                black_box(check(client, &cases.ptrs[i]))
            })
        });
        // The same check straight on the daemon's table (same data, no C boundary, no
        // C strings): what the engine itself costs here.
        let strs: Vec<[&str; 3]> = cases
            .ptrs
            .iter()
            .map(|p| p.map(|s| unsafe { std::ffi::CStr::from_ptr(s) }.to_str().unwrap()))
            .collect();
        let mut i = 0usize;
        group.bench_function("engine_caller_id/1_000_000_users", |b| {
            b.iter(|| {
                i = if i + 1 == strs.len() { 0 } else { i + 1 };
                let [t, u, n] = strs[i];
                black_box(table.check_caller_id(t, u, Some(n), black_box("15551234567")))
            })
        });
        // 4 threads checking at once: the time reported is wall time per check of each
        // thread (lower than 1 thread's × 4 means it scales).
        group.bench_function("caller_id_4_threads/1_000_000_users", |b| {
            b.iter_custom(|iters| {
                let threads: Vec<_> = (0..4usize)
                    .map(|t| {
                        let cases = Arc::clone(&cases);
                        std::thread::spawn(move || {
                            let mut i = t * 7919 % cases.ptrs.len();
                            let start = Instant::now();
                            for _ in 0..iters {
                                i = if i + 1 == cases.ptrs.len() { 0 } else { i + 1 };
                                black_box(check(client, &cases.ptrs[i]));
                            }
                            start.elapsed()
                        })
                    })
                    .collect();
                threads
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .max()
                    .unwrap_or_default()
            })
        });
        if label == "hot" {
            // A denial: the same check for a user the tenant doesn't have, so each call also
            // queues an audit record. Run flat out, this floods the 4,096-record queue between
            // the audit thread's 100 ms sends, so most calls take the full-queue path (count
            // and go on): the cost of a denial under a flood.
            let nobody = c"nobody".as_ptr();
            let mut i = 0usize;
            group.bench_function("caller_id_denied_audited/1_000_000_users", |b| {
                b.iter(|| {
                    i = if i + 1 == cases.ptrs.len() { 0 } else { i + 1 };
                    let [t, _, n] = cases.ptrs[i];
                    black_box(check(client, &[t, nobody, n]))
                })
            });
        }
        group.finish();
    }

    // The audit queue alone, with room in it (emptied, untimed, between runs of 4,000):
    // what a denial adds to a check when the audit thread keeps up.
    let mut group = c.benchmark_group("ffi_audit");
    group.measurement_time(Duration::from_secs(2));
    let queue = AuditQueue::default();
    group.bench_function("queue_a_denial", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let run = left.min(4_000);
                black_box(queue.take(usize::MAX));
                let start = Instant::now();
                for _ in 0..run {
                    queue.record(
                        DecisionKind::CallerId,
                        black_box("t0001"),
                        &[black_box("nobody")],
                        Reason::UnknownUser,
                        7,
                        [
                            ("requested", Input::Text(Some(black_box("+12000010001")))),
                            ("dialed", Input::Text(Some("15551234567"))),
                        ],
                    );
                }
                timed += start.elapsed();
                left -= run;
            }
            timed
        })
    });
    group.finish();

    unsafe { callgate_client_free(client.0) };
    rt.block_on(daemon.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
