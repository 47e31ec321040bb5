//! Properties DESIGN.md states for every input, checked over generated ones: nothing crosses
//! tenants, a custom role never narrows, emergency calls are never denied, and the order of
//! a directory file means nothing.

#[path = "support/demo.rs"]
#[expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a broken test fixture fails the test loudly"
)]
mod demo;

use std::collections::BTreeMap;

use callgate::catalog::BUILTIN_ROLES;
use callgate::model::{CustomRole, Directory, Extension, Number, Queue, User};
use callgate::{
    Action, Category, Outcome, Recording, RecordingAction, Resource, Table, Tenant, directory,
};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::Value;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------------ questions to ask

/// One question to one of the five decisions, owning its text.
#[derive(Debug, Clone)]
enum Ask {
    CallerId {
        user: String,
        requested: Option<String>,
        dialed: String,
    },
    Pause {
        actor: String,
        agent: String,
        queue: String,
        paused: bool,
    },
    Recording {
        actor: String,
        action: RecordingAction,
        queue: Option<String>,
        exts: Vec<String>,
        numbers: Vec<String>,
        site: Option<String>,
    },
    Feature {
        user: String,
        dialed: String,
    },
    Permission {
        user: String,
        category: Category,
        action: Action,
        resource: [Option<String>; 4],
    },
}

/// The whole answer (decision, reason, revision, caller ID, feature, args), comparable.
fn answer(t: &Table, tenant: &str, ask: &Ask) -> Value {
    // Answers always serialize; a `null` would differ from any real answer anyway.
    let json = |v: Result<Value, serde_json::Error>| v.unwrap_or_default();
    match ask {
        Ask::CallerId {
            user,
            requested,
            dialed,
        } => json(serde_json::to_value(t.check_caller_id(
            tenant,
            user,
            requested.as_deref(),
            dialed,
        ))),
        Ask::Pause {
            actor,
            agent,
            queue,
            paused,
        } => json(serde_json::to_value(
            t.check_agent_pause(tenant, actor, agent, queue, *paused),
        )),
        Ask::Recording {
            actor,
            action,
            queue,
            exts,
            numbers,
            site,
        } => {
            let exts: Vec<&str> = exts.iter().map(String::as_str).collect();
            let numbers: Vec<&str> = numbers.iter().map(String::as_str).collect();
            let r = Recording {
                queue: queue.as_deref(),
                extensions: &exts,
                numbers: &numbers,
                site: site.as_deref(),
            };
            json(serde_json::to_value(
                t.check_recording(tenant, actor, *action, &r),
            ))
        }
        Ask::Feature { user, dialed } => json(serde_json::to_value(
            t.check_feature_code(tenant, user, dialed),
        )),
        Ask::Permission {
            user,
            category,
            action,
            resource: [site, queue, extension, number],
        } => {
            let r = Resource {
                site: site.as_deref(),
                queue: queue.as_deref(),
                extension: extension.as_deref(),
                number: number.as_deref(),
            };
            json(serde_json::to_value(
                t.check_permission(tenant, user, *category, *action, &r),
            ))
        }
    }
}

/// Whether the answer lets the call or action go ahead as asked.
fn allows(answer: &Value) -> bool {
    answer["decision"] == "allow"
}

const USERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "kim",
    "mallory", "olivia", "rachel", "oscar", "wendy", "rita", "tess", "bill", "peter", "samir",
    "milton", "zed", "gavin", "jared", "dinesh", "gilfoyle", "monica", "nobody", "",
];
const QUEUES: &[&str] = &[
    "sales", "support", "600", "700", "extra", "900", "tps", "800", "q1", "q2", "500", "501",
    "nope", "",
];
const EXTS: &[&str] = &[
    "101", "102", "103", "104", "105", "106", "107", "201", "202", "203", "204", "999", "10", "11",
    "12", "301", "302", "303", "20", "21", "22", "30", "31", "40", "",
];
const NUMBERS: &[&str] = &[
    "+15550100000",
    "+15550100101",
    "+15550100102",
    "+15550100200",
    "+15550100201",
    "+15550100300",
    "+15550100600",
    "+15559990000",
    "+442070000000",
    "+442070000001",
    "+13125550001",
    "+13125550002",
    "+16505550000",
    "+16505550001",
    "+16505550010",
    "+16505550012",
    "15550100201",
    "+1 (555) 010-0102",
    "x",
    "",
];
const SITES: &[&str] = &["hq", "depot", "annex", ""];
const DIALED: &[&str] = &[
    "911",
    "933",
    "112",
    "999",
    "000",
    "5551234",
    "+15551234567",
    "",
];
const CODES: &[&str] = &[
    "*45", "*46", "*47", "*72", "*73", "*97", "*98", "**", "*70", "*99", "*4", "*461", "*", "#",
];

fn text(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    select(pool).prop_map(str::to_string)
}

/// Mostly a name from the pool, sometimes any text at all: decisions are total.
fn name(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![12 => text(pool), 1 => any::<String>()]
}

fn maybe(pool: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text(pool))
}

/// A requested caller ID: a number (in any form), some other text, or none.
fn requested() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(
        prop_oneof![4 => text(NUMBERS), 1 => "[+0-9 ()*#a-z.-]{0,20}", 1 => any::<String>()],
    )
}

fn feature_dialed() -> impl Strategy<Value = String> {
    (
        select(CODES),
        proptest::collection::vec(
            prop_oneof![select(EXTS), select(QUEUES), Just("5551234")],
            0..3,
        ),
    )
        .prop_map(|(code, args)| {
            let mut dialed = code.to_string();
            for (i, a) in args.iter().enumerate() {
                if i > 0 || !code.ends_with('*') {
                    dialed.push('*');
                }
                dialed.push_str(a);
            }
            dialed
        })
}

fn recording_action() -> impl Strategy<Value = RecordingAction> {
    select(
        &[
            RecordingAction::List,
            RecordingAction::Play,
            RecordingAction::Download,
            RecordingAction::Delete,
        ][..],
    )
}

fn ask() -> impl Strategy<Value = Ask> {
    prop_oneof![
        (name(USERS), requested(), text(DIALED))
            .prop_map(|(user, requested, dialed)| Ask::CallerId { user, requested, dialed }),
        (name(USERS), name(USERS), name(QUEUES), any::<bool>())
            .prop_map(|(actor, agent, queue, paused)| Ask::Pause { actor, agent, queue, paused }),
        (
            name(USERS),
            recording_action(),
            maybe(QUEUES),
            proptest::collection::vec(name(EXTS), 0..3),
            proptest::collection::vec(name(NUMBERS), 0..2),
            maybe(SITES),
        )
            .prop_map(|(actor, action, queue, exts, numbers, site)| Ask::Recording {
                actor,
                action,
                queue,
                exts,
                numbers,
                site
            }),
        (
            name(USERS),
            prop_oneof![4 => feature_dialed(), 2 => text(DIALED), 1 => "[*#0-9]{0,12}", 1 => any::<String>()],
        )
            .prop_map(|(user, dialed)| Ask::Feature { user, dialed }),
        (
            name(USERS),
            select(Category::ALL),
            select(Action::ALL),
            (maybe(SITES), maybe(QUEUES), maybe(EXTS), maybe(NUMBERS)),
        )
            .prop_map(|(user, category, action, (site, queue, extension, number))| Ask::Permission {
                user,
                category,
                action,
                resource: [site, queue, extension, number],
            }),
    ]
}

#[expect(
    clippy::unwrap_used,
    reason = "the demo directory has these tenants; a test without one should fail"
)]
fn tenant<'a>(tenants: &'a mut [Tenant], id: &str) -> &'a mut Tenant {
    tenants.iter_mut().find(|t| t.id == id).unwrap()
}

// ------------------------------------------------------ (a) nothing crosses tenants

/// A tenant with acme's ids (users, queues, extensions, numbers) and more, but other roles,
/// grants, memberships, defaults and emergency numbers: everything a leak would show.
fn acme_twin(acme: &Tenant, roles: &[usize], custom: &[Option<usize>], full: &[bool]) -> Tenant {
    let mut b = acme.clone();
    b.id = "acme-twin".into();
    b.default_caller_id = Some("+15550100600".into());
    b.emergency_numbers = vec!["999".into()];
    b.feature_codes.clear();
    b.numbers.push(Number {
        number: "+15559990000".into(),
        extension: Some("999".into()),
        ..Number::default()
    });
    b.extensions.push(Extension {
        ext: "999".into(),
        user: Some("zed".into()),
        ..Extension::default()
    });
    b.queues.push(Queue {
        id: "extra".into(),
        number: Some("900".into()),
        ..Queue::default()
    });
    b.users.push(User {
        id: "zed".into(),
        role: "tenant_admin".into(),
        extensions: vec!["999".into()],
        ..User::default()
    });
    let everyone: Vec<String> = b.users.iter().map(|u| u.id.clone()).collect();
    let role_ids: Vec<String> = b.roles.iter().map(|r| r.id.clone()).collect();
    for q in &mut b.queues {
        q.agents.clone_from(&everyone);
        q.supervisors = everyone.iter().rev().step_by(2).cloned().collect();
    }
    let (numbers, queues, exts) = (
        b.numbers
            .iter()
            .map(|n| n.number.clone())
            .collect::<Vec<_>>(),
        b.queues.iter().map(|q| q.id.clone()).collect::<Vec<_>>(),
        b.extensions
            .iter()
            .map(|e| e.ext.clone())
            .collect::<Vec<_>>(),
    );
    let each = roles
        .iter()
        .cycle()
        .zip(custom.iter().cycle())
        .zip(full.iter().cycle());
    for (u, ((&role, &custom), &full)) in b.users.iter_mut().zip(each) {
        u.role = BUILTIN_ROLES
            .get(role % BUILTIN_ROLES.len())
            .map_or("basic_user", |r| r.name)
            .to_string();
        u.custom_role = custom.and_then(|r| role_ids.get(r % role_ids.len()).cloned());
        u.status = None;
        u.default_caller_id = Some("+15559990000".into());
        u.grants.full_call_report_access = full;
        u.grants.numbers.clone_from(&numbers);
        u.grants.queues.clone_from(&queues);
        u.grants.extensions.clone_from(&exts);
        u.grants.features = vec!["voicemail".into(), "wallboard".into(), "contacts".into()];
    }
    b
}

proptest! {
    #![proptest_config(config(64))]

    /// "Tenant: `id` (slug). Owns everything below. Nothing ever crosses tenants." — a table
    /// holding acme alone and one holding acme beside a twin with the same ids and other
    /// rights give the same answer to every question about acme.
    #[test]
    fn no_decision_crosses_tenants(
        roles in proptest::collection::vec(0usize..BUILTIN_ROLES.len(), 1..16),
        custom in proptest::collection::vec(proptest::option::of(0usize..4), 1..16),
        full in proptest::collection::vec(any::<bool>(), 1..16),
        asks in proptest::collection::vec(ask(), 64),
    ) {
        let mut tenants = demo::tenants();
        let acme = tenant(&mut tenants, "acme").clone();
        let twin = acme_twin(&acme, &roles, &custom, &full);
        directory::validate(Directory { tenants: vec![twin.clone()] }).unwrap();
        let alone = demo::table_of(std::slice::from_ref(&acme));
        let beside = demo::table_of(&[acme, twin]);
        for ask in &asks {
            prop_assert_eq!(answer(&beside, "acme", ask), answer(&alone, "acme", ask), "{:?}", ask);
        }
    }
}

// --------------------------------------------------- (b) a custom role never narrows

/// A custom role: a random matrix (`category` → actions) and scope.
fn custom_role() -> impl Strategy<Value = CustomRole> {
    (
        proptest::collection::vec(
            (
                select(Category::ALL),
                proptest::sample::subsequence(Action::ALL, 0..=Action::ALL.len()),
            ),
            0..10,
        ),
        proptest::option::of(select(&["tenant", "site", "assigned", "self", "none"][..])),
    )
        .prop_map(|(rows, scope)| {
            let mut permissions: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (c, actions) in rows {
                permissions
                    .entry(c.to_string())
                    .or_default()
                    .extend(actions.iter().map(ToString::to_string));
            }
            CustomRole {
                id: "extra".into(),
                description: None,
                scope: scope.map(str::to_string),
                permissions,
            }
        })
}

/// Every question of a fixed set about acme's users: each decision, many resources.
fn acme_questions() -> Vec<Ask> {
    // The pool starts with acme's fourteen users.
    let users = USERS.get(..14).unwrap_or_default();
    let s = |x: &str| Some(x.to_string());
    let resources: [[Option<String>; 4]; 10] = [
        [None, None, None, None],
        [None, None, s("101"), None],
        [None, None, s("203"), None],
        [None, s("sales"), None, None],
        [None, s("support"), None, None],
        [None, None, None, s("+15550100101")],
        [None, None, None, s("+15550100201")],
        [s("hq"), None, None, None],
        [s("depot"), None, None, None],
        [s("depot"), s("support"), s("202"), s("+15550100200")],
    ];
    let mut asks = Vec::new();
    for &user in users {
        for &category in Category::ALL {
            for &action in Action::ALL {
                for resource in &resources {
                    asks.push(Ask::Permission {
                        user: user.into(),
                        category,
                        action,
                        resource: resource.clone(),
                    });
                }
            }
        }
        for &agent in users {
            for queue in ["sales", "support"] {
                asks.push(Ask::Pause {
                    actor: user.into(),
                    agent: agent.into(),
                    queue: queue.into(),
                    paused: true,
                });
            }
        }
        for action in [
            RecordingAction::Play,
            RecordingAction::Download,
            RecordingAction::Delete,
        ] {
            for (queue, exts, numbers, site) in [
                (s("sales"), vec![], vec![], None),
                (s("support"), vec![], vec![], None),
                (None, vec!["101".to_string()], vec![], None),
                (
                    None,
                    vec!["202".to_string(), "105".to_string()],
                    vec![],
                    None,
                ),
                (None, vec![], vec!["+15550100000".to_string()], None),
                (None, vec![], vec![], s("depot")),
                (None, vec![], vec![], None),
            ] {
                asks.push(Ask::Recording {
                    actor: user.into(),
                    action,
                    queue,
                    exts,
                    numbers,
                    site,
                });
            }
        }
        for requested in NUMBERS.iter().take(9).map(|n| s(n)).chain([None]) {
            for dialed in ["5551234", "911"] {
                asks.push(Ask::CallerId {
                    user: user.into(),
                    requested: requested.clone(),
                    dialed: dialed.into(),
                });
            }
        }
        for dialed in [
            "*45",
            "*45*600",
            "*46",
            "*46*700",
            "*46*201*600",
            "*47*600",
            "*72*5551234",
            "*73",
            "*97",
            "*98*101",
            "**201",
            "*99",
        ] {
            asks.push(Ask::Feature {
                user: user.into(),
                dialed: dialed.into(),
            });
        }
    }
    asks
}

proptest! {
    #![proptest_config(config(32))]

    /// "Custom role: a tenant-defined matrix, added to the built-in role's (it grants, never
    /// removes)." — whatever the matrix and scope, everything allowed without it is allowed
    /// with it.
    #[test]
    fn a_custom_role_never_narrows(role in custom_role()) {
        let mut without = demo::tenants();
        let acme = tenant(&mut without, "acme");
        acme.users.iter_mut().for_each(|u| u.custom_role = None);
        let mut with = without.clone();
        let acme = tenant(&mut with, "acme");
        acme.roles.push(role);
        acme.users.iter_mut().for_each(|u| u.custom_role = Some("extra".into()));
        directory::validate(Directory { tenants: with.clone() }).unwrap();
        let (without, with) = (demo::table_of(&without), demo::table_of(&with));
        for ask in acme_questions() {
            let before = answer(&without, "acme", &ask);
            if allows(&before) {
                let after = answer(&with, "acme", &ask);
                prop_assert!(allows(&after), "{:?}: {} without, {} with", ask, before, after);
                if let Ask::CallerId { .. } = ask {
                    prop_assert_eq!(&after["caller_id"], &before["caller_id"], "{:?}", ask);
                }
            }
        }
    }
}

// ------------------------------------------------- (c) emergency calls are never denied

/// The emergency numbers of each tenant of the table (unknown tenants: the built-in two).
fn emergency_numbers(tenant: &str) -> &'static [&'static str] {
    match tenant {
        "acme" => &["911", "933", "112"],
        "globex" => &["999", "112", "911"],
        "initech" => &["911", "112"],
        _ => &["911", "112"],
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// "`dialed` is one of the tenant's emergency numbers → never denied, whatever the user's
    /// state" — for any tenant (known or not), any user (known, unknown, suspended) and any
    /// requested caller ID, even text that is no number at all.
    #[test]
    fn an_emergency_call_is_never_denied(
        tenant in select(&["acme", "globex", "initech", "nowhere", "", "ACME"][..]),
        user in text(USERS),
        requested in requested(),
        which in any::<prop::sample::Index>(),
    ) {
        let t = demo::table();
        let dialed = *which.get(emergency_numbers(tenant));
        let a = t.check_caller_id(tenant, &user, requested.as_deref(), dialed);
        prop_assert_ne!(a.outcome, Outcome::Deny, "{:?}", a);
        if a.outcome == Outcome::Substitute {
            prop_assert!(a.caller_id.is_some(), "{:?}", a);
        }
        let f = t.check_feature_code(tenant, &user, dialed);
        prop_assert_eq!(f.outcome, Outcome::Allow, "{:?}", f);
    }
}

// -------------------------------------------- (d) the order of the file means nothing

/// SplitMix64: a small seeded generator, so a failing shuffle can be replayed from its seed.
struct Shuffler(u64);

impl Shuffler {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }

    /// Every list of the directory, at every depth.
    fn directory(&mut self, d: &mut Directory) {
        self.shuffle(&mut d.tenants);
        for t in &mut d.tenants {
            self.shuffle(&mut t.emergency_numbers);
            self.shuffle(&mut t.sites);
            self.shuffle(&mut t.numbers);
            self.shuffle(&mut t.extensions);
            self.shuffle(&mut t.queues);
            for q in &mut t.queues {
                self.shuffle(&mut q.agents);
                self.shuffle(&mut q.supervisors);
            }
            self.shuffle(&mut t.roles);
            for r in &mut t.roles {
                r.permissions
                    .values_mut()
                    .for_each(|actions| self.shuffle(actions));
            }
            self.shuffle(&mut t.feature_codes);
            for f in &mut t.feature_codes {
                if let Some(roles) = &mut f.roles {
                    self.shuffle(roles);
                }
            }
            self.shuffle(&mut t.users);
            for u in &mut t.users {
                self.shuffle(&mut u.extensions);
                self.shuffle(&mut u.grants.extensions);
                self.shuffle(&mut u.grants.queues);
                self.shuffle(&mut u.grants.numbers);
                self.shuffle(&mut u.grants.features);
            }
        }
    }
}

/// A tenant where order could matter if anything were decided by position: users with
/// several extensions, extensions with several DIDs, sites with several emergency callback
/// numbers, queues with several agents and supervisors, codes sharing a prefix.
const HOOLI: &str = r#"
tenants:
  - id: hooli
    default_caller_id: "+16505550000"
    emergency_numbers: ["911", "000"]
    sites: [{id: a}, {id: b}]
    numbers:
      - {number: "+16505550000", site: a}
      - {number: "+16505550002", site: a, emergency_callback: true}
      - {number: "+16505550001", site: a, emergency_callback: true}
      - {number: "+16505550011", site: a, extension: "20"}
      - {number: "+16505550010", site: a, extension: "20"}
      - {number: "+16505550012", site: b, extension: "21"}
      - {number: "+16505550020", site: b, emergency_callback: true}
    extensions:
      - {ext: "22", site: a, user: gavin}
      - {ext: "21", site: b, user: gavin}
      - {ext: "20", site: a, user: gavin}
      - {ext: "31", site: b, user: jared}
      - {ext: "30", site: b, user: jared}
      - {ext: "40", site: a}
    queues:
      - {id: q1, number: "500", site: a, agents: [jared, dinesh, gilfoyle], supervisors: [monica, gavin]}
      - {id: q2, number: "501", site: b, agents: [gilfoyle, dinesh, jared], supervisors: [monica]}
    roles:
      - {id: r1, scope: site, permissions: {call_queues: [edit, view], phone_numbers: [edit]}}
      - {id: r2, scope: assigned, permissions: {call_recordings: [view, delete]}}
    feature_codes:
      - {code: "*4", feature: park, roles: [r1, basic_user]}
      - {code: "*461", feature: queue_callers}
    users:
      - {id: gavin, role: basic_user, custom_role: r1, site: a, extensions: ["20", "21", "22"]}
      - id: jared
        role: call_center_agent
        extensions: ["30", "31"]
        grants: {queues: [q1], extensions: ["40", "20"], numbers: ["+16505550002", "+16505550000"]}
      - {id: dinesh, role: call_center_agent, site: b}
      - {id: gilfoyle, role: non_admin, custom_role: r2, grants: {queues: [q2, q1]}}
      - {id: monica, role: call_center_supervisor, site: a, default_caller_id: "+16505550001"}
"#;

/// The demo file and hooli as written, not yet put in canonical order by `parse`.
#[expect(
    clippy::unwrap_used,
    reason = "both are valid YAML of the format; if not, the test should fail"
)]
fn directory_as_written() -> Directory {
    let mut d: Directory = serde_yaml_ng::from_str(include_str!("../examples/demo.yaml")).unwrap();
    let hooli: Directory = serde_yaml_ng::from_str(HOOLI).unwrap();
    d.tenants.extend(hooli.tenants);
    d
}

proptest! {
    #![proptest_config(config(64))]

    /// "Import is idempotent" / "each [answer says] at which revision it was decided" — and
    /// what a directory means doesn't depend on the order its file lists things in: the demo
    /// with every list shuffled decides every question as the demo does, reasons and caller
    /// IDs included, whether it is read from a file or handed to the table as it is.
    #[test]
    fn decisions_do_not_depend_on_the_order_of_the_directory(
        seed in any::<u64>(),
        asks in proptest::collection::vec(
            (select(&["acme", "globex", "initech", "hooli", "hooli", "nowhere"][..]), ask()),
            64,
        ),
    ) {
        let written = directory_as_written();
        let reference = demo::table_of(&directory::validate(written.clone()).unwrap());
        let mut shuffled = written.clone();
        Shuffler(seed).directory(&mut shuffled);
        let yaml = serde_yaml_ng::to_string(&shuffled).unwrap();
        let from_file = demo::table_of(&demo::parse(&yaml));
        directory::validate(shuffled.clone()).unwrap();
        let as_is = demo::table_of(&shuffled.tenants);
        for (tenant, ask) in &asks {
            let expected = answer(&reference, tenant, ask);
            prop_assert_eq!(&answer(&from_file, tenant, ask), &expected, "{} {:?} (read from the file)", tenant, ask);
            prop_assert_eq!(&answer(&as_is, tenant, ask), &expected, "{} {:?} (handed over as is)", tenant, ask);
        }
        for t in &written.tenants {
            for u in &t.users {
                let expected = serde_json::to_value(reference.explain(&t.id, &u.id)).unwrap();
                prop_assert_eq!(&serde_json::to_value(from_file.explain(&t.id, &u.id)).unwrap(), &expected, "{} {}", t.id, u.id);
                let as_is = serde_json::to_value(as_is.explain(&t.id, &u.id)).unwrap();
                prop_assert_eq!(&as_is, &expected, "{} {} (as is)", t.id, u.id);
            }
        }
    }
}
