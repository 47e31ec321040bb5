//! The generated platform every large bench measures: tenants of 1,000 users shaped like a
//! real hosted-PBX customer. Included by path (`#[path = …] mod platform;`) from the engine's,
//! the daemon's and libcallgate's benches, so that their figures are about the same data.
#![allow(dead_code, reason = "each bench uses part of this")]

// The includer names the engine's model module `model` (the engine is `callgate` to the
// engine's and daemon's benches, `callgate::engine` to libcallgate's).
use super::model::{Extension, Grants, Number, Queue, Site, Tenant, User};

/// Tenant `i`'s DID number `j` (user `u{j}`'s own for `j` < 1,000; 9,999 is the main number).
pub fn did(i: usize, j: usize) -> String {
    format!("+1{:03}{:07}", 200 + i % 800, i * 10_000 + j)
}

/// The benches' walk over a generated platform: pseudo-random numbers (a fixed LCG, so every
/// run and every bench visits the same cases), each one picking a tenant (`r % tenants`), a
/// user (`(r >> 20) % USERS_PER_TENANT`) and so on.
pub fn walk() -> impl Iterator<Item = usize> {
    let mut k: u64 = 0x9e37_79b9_7f4a_7c15;
    std::iter::repeat_with(move || {
        k = k
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (k >> 11) as usize
    })
}

/// Users in each generated tenant.
pub const USERS_PER_TENANT: usize = 1_000;
/// The built-in roles users get, in turn.
pub const ROLES: [&str; 8] = [
    "non_admin",
    "call_center_agent",
    "basic_user",
    "tenant_user",
    "call_center_agent",
    "non_admin",
    "site_manager",
    "call_center_supervisor",
];

/// A realistic tenant `t{i:04}`: two sites, a DID (`did(i, j)`) and an extension per user,
/// 20 queues of 50 agents and 2 supervisors, number and queue grants for a quarter of the
/// users.
pub fn tenant(i: usize) -> Tenant {
    let id = format!("t{i:04}");
    let mut t = Tenant {
        id,
        default_caller_id: Some(did(i, 9_999)),
        emergency_numbers: vec!["911".into()],
        sites: vec![
            Site { id: "hq".into() },
            Site {
                id: "branch".into(),
            },
        ],
        ..Tenant::default()
    };
    t.numbers.push(Number {
        number: did(i, 9_999),
        site: Some("hq".into()),
        ..Number::default()
    });
    for j in 0..USERS_PER_TENANT {
        let site = if j % 3 == 0 { "branch" } else { "hq" };
        let ext = format!("{}", 1000 + j);
        t.numbers.push(Number {
            number: did(i, j),
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
                    did(i, (j + 1) % USERS_PER_TENANT),
                    did(i, (j + 2) % USERS_PER_TENANT),
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
