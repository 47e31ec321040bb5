//! Runs one kind of hot check N times over the bench's 1,000-user tenant, for
//! `scripts/icount.sh` to count the instructions of under callgrind (`run` is the only
//! function counted). The cases are `benches/decide.rs`'s "hot" ones: 64 checks visited in
//! turn.

use std::hint::black_box;

use callgate::model;
use callgate::{Action, Category, Recording, RecordingAction, Resource, Table};

#[path = "platform.rs"]
mod platform;

use platform::{USERS_PER_TENANT, tenant, walk};

/// One case: tenant, user, the user's own DID, another user's DID, a supervisor, an agent and
/// the queue they share.
struct Case {
    tenant: String,
    user: String,
    own_did: String,
    other_did: String,
    supervisor: String,
    agent: String,
    queue: String,
}

const KINDS: [&str; 6] = [
    "caller_id",
    "caller_id_substitute",
    "agent_pause",
    "recording",
    "feature_code",
    "permission",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(Ok(n))) = (args.get(1), args.get(2).map(|n| n.parse::<usize>())) else {
        eprintln!("usage: icount <{}> <checks>", KINDS.join("|"));
        std::process::exit(2);
    };
    if !KINDS.contains(&kind.as_str()) {
        eprintln!("unknown check `{kind}`: one of {}", KINDS.join(", "));
        std::process::exit(2);
    }
    // ICOUNT_TENANTS=1000: the cases spread over 1,000 tenants (1,000,000 users), as the
    // bench's larger table (slow under callgrind: minutes to compile).
    let tenants = std::env::var("ICOUNT_TENANTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1usize);
    let data: Vec<model::Tenant> = (0..tenants.max(1)).map(tenant).collect();
    let table = Table::new();
    table.replace_all(&data, 1);
    let cases: Vec<Case> = walk()
        .take(64)
        .map(|r| {
            let t = &data[r % data.len()];
            let j = (r >> 20) % USERS_PER_TENANT;
            let q = &t.queues[(r >> 8) % 20];
            Case {
                tenant: t.id.clone(),
                user: t.users[j].id.clone(),
                own_did: t.numbers[j + 1].number.clone(),
                other_did: t.numbers[(j + 500) % USERS_PER_TENANT + 1].number.clone(),
                supervisor: q.supervisors[0].clone(),
                agent: q.agents[(r >> 30) % 50].clone(),
                queue: q.id.clone(),
            }
        })
        .collect();
    run(&table, &cases, kind, n);
}

/// The counted part: `n` checks of one kind.
#[inline(never)]
fn run(table: &Table, cases: &[Case], kind: &str, n: usize) {
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
    for i in 0..n {
        let c = &cases[i % cases.len()];
        match kind {
            "caller_id" | "caller_id_substitute" => {
                let did = if kind == "caller_id" { &c.own_did } else { &c.other_did };
                black_box(table.check_caller_id(
                    &c.tenant,
                    c.user.as_str(),
                    Some(did),
                    black_box("15551234567"),
                ));
            }
            "agent_pause" => {
                #[cfg(not(feature = "paused-arg"))]
                black_box(table.check_agent_pause(&c.tenant, &c.supervisor, &c.agent, &c.queue));
                // Before `paused` left the typed method (ed28273).
                #[cfg(feature = "paused-arg")]
                black_box(table.check_agent_pause(&c.tenant, &c.supervisor, &c.agent, &c.queue, true));
            }
            "recording" => {
                black_box(table.check_recording(
                    &c.tenant,
                    &c.user,
                    RecordingAction::Play,
                    black_box(&rec),
                ));
            }
            "feature_code" => {
                black_box(table.check_feature_code(
                    &c.tenant,
                    c.supervisor.as_str(),
                    black_box("*46*1001*601"),
                ));
            }
            _ => {
                black_box(table.check_permission(
                    &c.tenant,
                    &c.user,
                    Category::CallHistory,
                    Action::View,
                    black_box(&resource),
                ));
            }
        }
    }
}
