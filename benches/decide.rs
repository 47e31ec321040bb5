//! Benches of the engine's decisions over generated directories the size of a real platform:
//! one tenant of 1,000 users, and 1,000 tenants of 1,000 users (1,000,000 users), plus the
//! time and memory to compile the large table.
//!
//! `cargo bench --bench decide` (add `-- caller_id` etc. to pick).

#![expect(clippy::indexing_slicing, reason = "bench inputs are generated to fit")]
#![expect(
    clippy::expect_used,
    reason = "a bench over a generated tenant that does not validate is a broken bench"
)]
use std::hint::black_box;
use std::time::Instant;

use callgate::model::Tenant;
use callgate::{Action, Category, Recording, RecordingAction, Resource, Table};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

#[path = "support/platform.rs"]
mod platform;

use callgate::model;
use platform::{USERS_PER_TENANT, tenant, walk};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn build(tenants: usize) -> (Table, Vec<Tenant>) {
    let data: Vec<Tenant> = (0..tenants).map(tenant).collect();
    let table = Table::new();
    let before = rss_bytes();
    let start = Instant::now();
    table.replace_all(&data, 1);
    let took = start.elapsed();
    let after = rss_bytes();
    eprintln!(
        "compiled {} tenants / {} users in {:.2?}; table resident memory ≈ {} MiB",
        tenants,
        tenants * USERS_PER_TENANT,
        took,
        after.saturating_sub(before) / (1 << 20)
    );
    (table, data)
}

/// One check's inputs: text slices of one contiguous arena, as a freshly parsed request
/// would hand them over.
struct Case<'a> {
    tenant: &'a str,
    user: &'a str,
    own_did: &'a str,
    other_did: &'a str,
    supervisor: &'a str,
    agent: &'a str,
    queue: &'a str,
}

/// `n` cases spread uniformly over every tenant and user (a pseudo-random walk), their text
/// laid out in one arena in visiting order.
fn cases(data: &[Tenant], n: usize, arena: &mut String) -> Vec<[std::ops::Range<usize>; 7]> {
    let mut out = Vec::with_capacity(n);
    for r in walk().take(n) {
        let t = &data[r % data.len()];
        let j = (r >> 20) % USERS_PER_TENANT;
        let q = (r >> 8) % 20;
        let mut push = |s: &str| {
            let start = arena.len();
            arena.push_str(s);
            start..arena.len()
        };
        out.push([
            push(&t.id),
            push(&t.users[j].id),
            push(&t.numbers[j + 1].number),
            push(&t.numbers[(j + 500) % USERS_PER_TENANT + 1].number),
            push(&t.queues[q].supervisors[0]),
            push(&t.queues[q].agents[(r >> 30) % 50]),
            push(&t.queues[q].id),
        ]);
    }
    out
}

fn resolve<'a>(arena: &'a str, ranges: &[[std::ops::Range<usize>; 7]]) -> Vec<Case<'a>> {
    ranges
        .iter()
        .map(|r| Case {
            tenant: &arena[r[0].clone()],
            user: &arena[r[1].clone()],
            own_did: &arena[r[2].clone()],
            other_did: &arena[r[3].clone()],
            supervisor: &arena[r[4].clone()],
            agent: &arena[r[5].clone()],
            queue: &arena[r[6].clone()],
        })
        .collect()
}

fn decisions(c: &mut Criterion) {
    for tenants in [1usize, 1_000] {
        let (table, data) = build(tenants);
        let users = tenants * USERS_PER_TENANT;
        // "hot": 64 cases visited over and over (cache-resident, as a busy trunk's callers
        // are); "random": 1,000,000 cases spread over every user (each check misses cache).
        for (label, n) in [("hot", 64usize), ("random", 1_000_000)] {
            let mut arena = String::new();
            let ranges = cases(&data, n, &mut arena);
            let cases = resolve(&arena, &ranges);
            let mut group = c.benchmark_group(format!("decide_{label}"));
            let mut i = 0usize;
            let mut next = || {
                i = if i + 1 == cases.len() { 0 } else { i + 1 };
                &cases[i]
            };
            group.bench_function(BenchmarkId::new("caller_id", users), |b| {
                b.iter(|| {
                    let c = next();
                    black_box(table.check_caller_id(
                        c.tenant,
                        c.user,
                        Some(c.own_did),
                        black_box("15551234567"),
                    ))
                })
            });
            group.bench_function(BenchmarkId::new("caller_id_substitute", users), |b| {
                b.iter(|| {
                    let c = next();
                    black_box(table.check_caller_id(
                        c.tenant,
                        c.user,
                        Some(c.other_did),
                        black_box("15551234567"),
                    ))
                })
            });
            group.bench_function(BenchmarkId::new("agent_pause", users), |b| {
                b.iter(|| {
                    let c = next();
                    black_box(table.check_agent_pause(c.tenant, c.supervisor, c.agent, c.queue))
                })
            });
            group.bench_function(BenchmarkId::new("recording", users), |b| {
                let exts = ["1001", "1002"];
                let rec = Recording {
                    queue: Some("q1"),
                    extensions: &exts,
                    numbers: &[],
                    site: Some("hq"),
                };
                b.iter(|| {
                    let c = next();
                    black_box(table.check_recording(
                        c.tenant,
                        c.user,
                        RecordingAction::Play,
                        black_box(&rec),
                    ))
                })
            });
            group.bench_function(BenchmarkId::new("feature_code", users), |b| {
                b.iter(|| {
                    let c = next();
                    black_box(table.check_feature_code(
                        c.tenant,
                        c.supervisor,
                        black_box("*46*1001*601"),
                    ))
                })
            });
            group.bench_function(BenchmarkId::new("permission", users), |b| {
                let resource = Resource {
                    extension: Some("1500"),
                    ..Resource::default()
                };
                b.iter(|| {
                    let c = next();
                    black_box(table.check_permission(
                        c.tenant,
                        c.user,
                        Category::CallHistory,
                        Action::View,
                        black_box(&resource),
                    ))
                })
            });
            group.finish();
        }
    }
}

fn compile(c: &mut Criterion) {
    let data: Vec<Tenant> = (0..1_000).map(tenant).collect();
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("one_tenant_1000_users", |b| {
        b.iter(|| black_box(callgate::CompiledTenant::compile(black_box(&data[0]), 1)))
    });
    group.bench_function("table_1000000_users", |b| {
        b.iter(|| {
            let table = Table::new();
            table.replace_all(black_box(&data), 1);
            black_box(table)
        })
    });
    group.finish();
}

/// A tenant of `users` users, each with an extension and a DID, 20 queues of 50 agents, as
/// `scripts/gen_platform.py` makes them; validated (stored form).
fn enterprise(users: usize) -> Tenant {
    let did = |j: usize| format!("+1{:03}{:07}", 200 + j / 10_000_000, j % 10_000_000);
    let mut t = Tenant {
        id: "big".into(),
        sites: vec![
            model::Site { id: "hq".into() },
            model::Site {
                id: "branch".into(),
            },
        ],
        ..Tenant::default()
    };
    for j in 0..users {
        let site = Some(if j % 3 == 0 { "branch" } else { "hq" }.to_string());
        let ext = format!("{}", 100_000 + j);
        t.numbers.push(model::Number {
            number: did(j),
            site: site.clone(),
            extension: Some(ext.clone()),
            emergency_callback: j == 0,
        });
        t.users.push(model::User {
            id: format!("u{j}"),
            role: [
                "non_admin",
                "call_center_agent",
                "basic_user",
                "site_manager",
            ][j % 4]
                .into(),
            site,
            extensions: vec![ext],
            grants: model::Grants {
                numbers: if j % 4 == 0 {
                    vec![did((j + 1) % users)]
                } else {
                    vec![]
                },
                ..model::Grants::default()
            },
            ..model::User::default()
        });
    }
    for q in 0..20 {
        t.queues.push(model::Queue {
            id: format!("q{q}"),
            number: Some(format!("{}", 600 + q)),
            agents: (0..50)
                .map(|k| format!("u{}", (q * 50 + k) % users))
                .collect(),
            ..model::Queue::default()
        });
    }
    callgate::directory::validate(model::Directory { tenants: vec![t] })
        .expect("a valid tenant")
        .remove(0)
}

/// What a one-user change costs a 100,000-user tenant, step by step, against the whole-tenant
/// path it replaced: validating and compiling the tenant. (The apply steps leave the dropping
/// of the tenant out; a patch includes dropping the tenant it makes, as replacing the old one
/// in a table does.)
fn change(c: &mut Criterion) {
    use callgate::edit::{Edit, Entity, Kind, Splice};
    use criterion::BatchSize;
    use std::sync::Arc;
    let t = enterprise(100_000);
    let compiled = callgate::CompiledTenant::compile(&t, 1);
    let delete = Edit::Delete(Kind::User, "u4242".into());
    let mut suspended = t.users[4243].clone();
    suspended.status = Some("suspended".into());
    let deleted = {
        let mut x = t.clone();
        delete.apply(&mut x);
        x
    };
    let delete_splice = Arc::new(Splice::between(&t, &deleted));
    let mut group = c.benchmark_group("change_100000_users");
    group.sample_size(10);
    group.bench_function("whole/validate", |b| {
        b.iter_batched(
            || model::Directory {
                tenants: vec![t.clone()],
            },
            |d| black_box(callgate::directory::validate(d)),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("whole/compile", |b| {
        b.iter(|| black_box(callgate::CompiledTenant::compile(black_box(&t), 2)))
    });
    group.bench_function("delete_user/apply_in_place", |b| {
        b.iter_batched_ref(
            || t.clone(),
            |x| black_box(delete.apply(x)),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("put_user/check_and_apply", |b| {
        b.iter_batched_ref(
            || t.clone(),
            |x| {
                black_box(callgate::directory::put_user(
                    x,
                    suspended.clone(),
                    &callgate::directory::Limits::default(),
                ))
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("delete_user/neighbourhood_and_splice", |b| {
        b.iter(|| {
            let before = delete.neighbourhood(black_box(&t));
            let mut after = before.clone();
            delete.apply(&mut after);
            black_box(Splice::between(&before, &after))
        })
    });
    group.bench_function("delete_user/patch_compiled", |b| {
        b.iter(|| black_box(compiled.spliced(black_box(&delete_splice), 2)))
    });
    let put = Edit::Put(Entity::User(suspended.clone()));
    let put_splice = {
        let mut x = t.clone();
        put.apply(&mut x);
        let x = callgate::directory::validate(model::Directory { tenants: vec![x] })
            .expect("valid")
            .remove(0);
        Arc::new(Splice::between(&t, &x))
    };
    group.bench_function("put_user/patch_compiled", |b| {
        b.iter(|| black_box(compiled.spliced(black_box(&put_splice), 2)))
    });
    group.finish();
}

criterion_group!(benches, decisions, compile, change);
criterion_main!(benches);
