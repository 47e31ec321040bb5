//! Times the hot checks of two engine trees in one process, for `scripts/abtime.sh`: both
//! tables are built from the same generated platform, and the two engines run in turn, in
//! short bursts (`BURST` checks each, the order swapped every round), so whatever else the
//! machine is doing at a moment slows both alike. Criterion, one binary after the other,
//! spreads 20-40% between runs here; the ratio of adjacent bursts spreads far less.
//!
//! Prints, per check kind: the median ns per check of each engine, and the median and
//! quartiles of the per-round ratio `b / a`.
//!
//! `abtime <tenants> <rounds> [kind…]`; engine `a` is the first tree given to the script.

use std::hint::black_box;
use std::time::Instant;

/// The platform generator, once per engine (each has its own model types): the script
/// copies `benches/support/platform.rs` to `src/plat_a/` and `src/plat_b/`.
mod plat_a {
    pub use engine_a::model;
    pub mod platform;
}
mod plat_b {
    pub use engine_b::model;
    pub mod platform;
}

/// Checks per burst: about 2-5 ms of work, short beside the machine's swings.
const BURST: usize = 40_000;

const KINDS: [&str; 6] = [
    "caller_id",
    "caller_id_substitute",
    "agent_pause",
    "recording",
    "feature_code",
    "permission",
];

/// One case's text: tenant, user, own DID, another user's DID, supervisor, agent, queue.
type Case = [String; 7];

/// The bench's 64 hot cases (`benches/decide.rs`), from one engine's generated data.
macro_rules! cases {
    ($data:expr, $users:expr) => {{
        let data = $data;
        plat_a::platform::walk()
            .take(64)
            .map(|r| {
                let t = &data[r % data.len()];
                let j = (r >> 20) % $users;
                let q = &t.queues[(r >> 8) % 20];
                [
                    t.id.clone(),
                    t.users[j].id.clone(),
                    t.numbers[j + 1].number.clone(),
                    t.numbers[(j + 500) % $users + 1].number.clone(),
                    q.supervisors[0].clone(),
                    q.agents[(r >> 30) % 50].clone(),
                    q.id.clone(),
                ]
            })
            .collect::<Vec<Case>>()
    }};
}

/// A burst of `n` checks of one kind against one engine's table; ns per check.
macro_rules! burst_fn {
    ($name:ident, $engine:ident) => {
        #[inline(never)]
        fn $name(table: &$engine::Table, cases: &[Case], kind: usize, n: usize) -> f64 {
            use $engine::{Action, Category, Recording, RecordingAction, Resource};
            let exts = ["1001", "1002"];
            let rec = Recording {
                queue: Some("q1"),
                extensions: &exts,
                numbers: &[],
                site: Some("hq"),
            };
            let resource = Resource {
                extension: Some("1500"),
                ..Resource::default()
            };
            let start = Instant::now();
            let mut i = 0usize;
            for _ in 0..n {
                i = if i + 1 == cases.len() { 0 } else { i + 1 };
                let c = &cases[i];
                match kind {
                    0 | 1 => {
                        let did = if kind == 0 { &c[2] } else { &c[3] };
                        black_box(table.check_caller_id(
                            &c[0],
                            c[1].as_str(),
                            Some(did.as_str()),
                            black_box("15551234567"),
                        ));
                    }
                    2 => {
                        black_box(pause!($engine, table, c));
                    }
                    3 => {
                        black_box(table.check_recording(
                            &c[0],
                            &c[1],
                            RecordingAction::Play,
                            black_box(&rec),
                        ));
                    }
                    4 => {
                        black_box(table.check_feature_code(
                            &c[0],
                            c[4].as_str(),
                            black_box("*46*1001*601"),
                        ));
                    }
                    _ => {
                        black_box(table.check_permission(
                            &c[0],
                            &c[1],
                            Category::CallHistory,
                            Action::View,
                            black_box(&resource),
                        ));
                    }
                }
            }
            start.elapsed().as_nanos() as f64 / n as f64
        }
    };
}

// Before `ed28273` the agent-pause check took a `paused` flag it ignored.
#[cfg(not(feature = "a-paused-arg"))]
macro_rules! pause_a {
    ($t:expr, $c:expr) => {
        $t.check_agent_pause(&$c[0], &$c[4], &$c[5], &$c[6])
    };
}
#[cfg(feature = "a-paused-arg")]
macro_rules! pause_a {
    ($t:expr, $c:expr) => {
        $t.check_agent_pause(&$c[0], &$c[4], &$c[5], &$c[6], true)
    };
}
#[cfg(not(feature = "b-paused-arg"))]
macro_rules! pause_b {
    ($t:expr, $c:expr) => {
        $t.check_agent_pause(&$c[0], &$c[4], &$c[5], &$c[6])
    };
}
#[cfg(feature = "b-paused-arg")]
macro_rules! pause_b {
    ($t:expr, $c:expr) => {
        $t.check_agent_pause(&$c[0], &$c[4], &$c[5], &$c[6], true)
    };
}
macro_rules! pause {
    (engine_a, $t:expr, $c:expr) => {
        pause_a!($t, $c)
    };
    (engine_b, $t:expr, $c:expr) => {
        pause_b!($t, $c)
    };
}

burst_fn!(burst_a, engine_a);
burst_fn!(burst_b, engine_b);

fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let at = ((v.len() - 1) as f64 * q).round() as usize;
    v[at]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!("usage: abtime <tenants> <rounds> [{}…]", KINDS.join("|"));
        std::process::exit(2)
    };
    let tenants: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| usage());
    let rounds: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or_else(|| usage());
    let mut kinds: Vec<usize> = Vec::new();
    for k in args.iter().skip(3) {
        match KINDS.iter().position(|&name| name == k) {
            Some(i) => kinds.push(i),
            None => usage(),
        }
    }
    if kinds.is_empty() {
        kinds = (0..KINDS.len()).collect();
    }
    // Built in the order ABTIME_ORDER says (`ab`, the default, or `ba`), so a run of each
    // shows whether being built first or second (where each table's memory lands) matters.
    let b_first = std::env::var("ABTIME_ORDER").is_ok_and(|o| o == "ba");
    let build_a = || {
        let data: Vec<engine_a::model::Tenant> = (0..tenants).map(plat_a::platform::tenant).collect();
        let table = engine_a::Table::new();
        table.replace_all(&data, 1);
        let cases = cases!(&data, plat_a::platform::USERS_PER_TENANT);
        (table, cases)
    };
    let build_b = || {
        let data: Vec<engine_b::model::Tenant> = (0..tenants).map(plat_b::platform::tenant).collect();
        let table = engine_b::Table::new();
        table.replace_all(&data, 1);
        let cases = cases!(&data, plat_b::platform::USERS_PER_TENANT);
        (table, cases)
    };
    let ((ta, ca), (tb, cb)) = if b_first {
        let b = build_b();
        (build_a(), b)
    } else {
        let a = build_a();
        (a, build_b())
    };
    assert_eq!(ca, cb, "both engines see the same cases");
    println!(
        "# {} users, {rounds} rounds of {BURST} checks per engine per kind; built {}",
        tenants * plat_a::platform::USERS_PER_TENANT,
        if b_first { "b first" } else { "a first" }
    );
    println!(
        "{:<22} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "check", "a ns", "b ns", "b/a p25", "median", "p75"
    );
    for &kind in &kinds {
        // Warm both up.
        burst_a(&ta, &ca, kind, BURST);
        burst_b(&tb, &cb, kind, BURST);
        let (mut a, mut b, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let (x, y) = if round % 2 == 0 {
                let x = burst_a(&ta, &ca, kind, BURST);
                (x, burst_b(&tb, &cb, kind, BURST))
            } else {
                let y = burst_b(&tb, &cb, kind, BURST);
                (burst_a(&ta, &ca, kind, BURST), y)
            };
            a.push(x);
            b.push(y);
            ratio.push(y / x);
        }
        println!(
            "{:<22} {:>9.1} {:>9.1} {:>8.3} {:>8.3} {:>8.3}",
            KINDS[kind],
            median(&mut a),
            median(&mut b),
            quantile(&mut ratio, 0.25),
            median(&mut ratio),
            quantile(&mut ratio, 0.75)
        );
    }
}
