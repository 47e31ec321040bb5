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
use callgate::model::{
    CustomRole, Extension, FeatureCode, Grants, Number, Queue, Site, Tenant, User,
};
use callgate_daemon::store::{self, Store};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const TENANTS: usize = 1_000;
const USERS_PER_TENANT: usize = 1_000;
const ROLES: [&str; 8] = [
    "non_admin",
    "call_center_agent",
    "basic_user",
    "tenant_user",
    "call_center_agent",
    "non_admin",
    "site_manager",
    "call_center_supervisor",
];

/// A realistic tenant (as the engine's `decide` bench): two sites, a DID and an extension per
/// user, 20 queues of 50 agents and 2 supervisors, number and queue grants for a quarter of
/// the users, and two custom roles and a feature code override.
fn tenant(i: usize) -> Tenant {
    let did = |j: usize| format!("+1{:03}{:07}", 200 + i % 800, i * 10_000 + j);
    let mut t = Tenant {
        id: format!("t{i:04}"),
        default_caller_id: Some(did(9_999)),
        emergency_numbers: vec!["911".into()],
        sites: vec![
            Site { id: "hq".into() },
            Site {
                id: "branch".into(),
            },
        ],
        roles: vec![
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
        ],
        feature_codes: vec![FeatureCode {
            code: "*46".into(),
            feature: "queue_pause_toggle".into(),
            roles: Some(vec!["call_center_agent".into(), "manager".into()]),
        }],
        ..Tenant::default()
    };
    t.numbers.push(Number {
        number: did(9_999),
        site: Some("hq".into()),
        ..Number::default()
    });
    for j in 0..USERS_PER_TENANT {
        let site = if j % 3 == 0 { "branch" } else { "hq" };
        let ext = format!("{}", 1000 + j);
        t.numbers.push(Number {
            number: did(j),
            site: Some(site.into()),
            extension: Some(ext.clone()),
            emergency_callback: j == 0,
        });
        t.extensions.push(Extension {
            ext: ext.clone(),
            site: Some(site.into()),
            user: Some(format!("u{j}")),
        });
        let grants = if j % 4 == 0 {
            Grants {
                numbers: vec![
                    did((j + 1) % USERS_PER_TENANT),
                    did((j + 2) % USERS_PER_TENANT),
                ],
                queues: vec![format!("q{}", j % 20)],
                ..Grants::default()
            }
        } else {
            Grants::default()
        };
        t.users.push(User {
            id: format!("u{j}"),
            role: ROLES[j % ROLES.len()].into(),
            custom_role: (j % 10 == 0).then(|| "receptionist".into()),
            site: Some(site.into()),
            extensions: vec![ext],
            grants,
            ..User::default()
        });
    }
    for q in 0..20 {
        t.queues.push(Queue {
            id: format!("q{q}"),
            number: Some(format!("{}", 600 + q)),
            site: Some("hq".into()),
            agents: (0..50).map(|k| format!("u{}", q * 50 + k)).collect(),
            supervisors: (0..2)
                .map(|k| format!("u{}", (q * 50 + 500 + k * 7) % USERS_PER_TENANT))
                .collect(),
        });
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
                Table::new,
                |table| {
                    let revision = runtime
                        .block_on(store::load_into(&store, &table))
                        .expect("load");
                    assert_eq!(black_box(&table).tenant_count(), TENANTS);
                    (table, revision)
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
