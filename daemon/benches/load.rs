//! Loading the grant table from the store: 1,000 tenants of 1,000 users (1,000,000 users) in
//! SQLite and in Postgres (a server started as the tests do, or `CALLGATE_TEST_POSTGRES`).
//! One iteration is [`store::load_into`]: one read transaction with one query per table, the
//! tenants assembled in memory, every tenant compiled into the table. Goal: under 5 s.
//!
//! `cargo bench -p callgate-daemon --bench load` (add `-- sqlite` or `-- postgres` to pick).
//! Writing the data takes a while before the first measurement.

#![expect(
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a bench: a failed step fails it"
)]

#[path = "../tests/support/postgres.rs"]
mod postgres;

use std::hint::black_box;
use std::time::{Duration, Instant};

use callgate::Table;
use callgate::model::{CustomRole, FeatureCode, Tenant};
use callgate_daemon::store::{self, Store};
use callgate_daemon::writer::Writer;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const TENANTS: usize = 1_000;
#[path = "../../benches/support/platform.rs"]
mod platform;

use callgate::model;
use platform::USERS_PER_TENANT;

/// The engine's generated tenant (`benches/support/platform.rs`), plus two custom roles (one
/// given to every tenth user) and a feature code override: every table of the store is used.
fn tenant(i: usize) -> Tenant {
    let mut t = platform::tenant(i);
    t.roles = vec![
        CustomRole {
            id: "receptionist".into(),
            description: Some("Front desk".into()),
            scope: None,
            permissions: [
                ("extensions", vec!["view"]),
                ("voicemail", vec!["view", "create", "edit"]),
            ]
            .into_iter()
            .map(|(c, a)| (c.to_string(), a.into_iter().map(String::from).collect()))
            .collect(),
        },
        CustomRole {
            id: "manager".into(),
            description: None,
            scope: Some("site".into()),
            permissions: [(
                "call_queues".to_string(),
                vec!["view".to_string(), "edit".to_string()],
            )]
            .into(),
        },
    ];
    t.feature_codes = vec![FeatureCode {
        code: "*46".into(),
        feature: "queue_pause_toggle".into(),
        roles: Some(vec!["call_center_agent".into(), "manager".into()]),
    }];
    for (j, user) in t.users.iter_mut().enumerate() {
        user.custom_role = (j % 10 == 0).then(|| "receptionist".into());
    }
    t
}

/// Fills `store` with the directory, in batches of 100 tenants.
fn fill(runtime: &tokio::runtime::Runtime, store: &Store) {
    let start = Instant::now();
    for batch in 0..TENANTS / 100 {
        let tenants: Vec<Tenant> = (batch * 100..(batch + 1) * 100).map(tenant).collect();
        runtime
            .block_on(store.import(&tenants, "bench"))
            .expect("import");
    }
    eprintln!(
        "{}: wrote {TENANTS} tenants / {} users in {:.1?}",
        store.kind(),
        TENANTS * USERS_PER_TENANT,
        start.elapsed()
    );
}

fn load(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("callgate.db").display());
    let mut group = c.benchmark_group("load_1m_users");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(60));
    for kind in ["sqlite", "postgres"] {
        if !c_filter_matches(kind) {
            continue;
        }
        let url = match kind {
            "sqlite" => sqlite.clone(),
            _ => runtime.block_on(postgres::database()),
        };
        let store = runtime.block_on(Store::open(&url)).expect("open");
        fill(&runtime, &store);
        // Where the time goes, once.
        let start = Instant::now();
        let (tenants, revision) = runtime.block_on(store.load_all()).expect("load");
        let read = start.elapsed();
        let users: usize = tenants.iter().map(|t| t.users.len()).sum();
        let table = Table::new();
        let start = Instant::now();
        table.replace_all(&tenants, revision);
        eprintln!(
            "{kind}: load_all of {users} users {read:.2?}; compiling them {:.2?}",
            start.elapsed()
        );
        drop((table, tenants));

        group.bench_function(kind, |b| {
            b.iter_batched(
                Writer::new,
                |writer| {
                    let revision = runtime
                        .block_on(store::load_into(&store, &writer))
                        .expect("load");
                    assert_eq!(black_box(writer.table()).tenant_count(), TENANTS);
                    (writer, revision)
                },
                BatchSize::PerIteration,
            )
        });
        runtime.block_on(store.close());
    }
    group.finish();
}

/// Whether the command line's filter (if any) picks `kind`, so the data for the other isn't
/// written for nothing.
fn c_filter_matches(kind: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty()
        || filters
            .iter()
            .any(|f| format!("load_1m_users/{kind}").contains(f.as_str()))
}

criterion_group!(benches, load);
criterion_main!(benches);
