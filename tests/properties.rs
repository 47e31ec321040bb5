//! Properties DESIGN.md states for every input, checked on generated directories (see
//! `tests/model/generate.rs`: every built-in role, custom roles of every scope, sites or none,
//! suspended users, empty tenants, ids that collide across tenants, feature-code overrides,
//! grants of every kind, emergency numbers): nothing crosses tenants, a custom role never
//! narrows and never adds what its matrix doesn't explain, emergency calls are never denied,
//! a caller ID presented is always one the tenant owns, and the order of a directory file
//! means nothing.

#[path = "model/reference.rs"]
#[allow(
    dead_code,
    reason = "shared by several test crates, each using part of it"
)]
mod reference;

#[path = "model/ask.rs"]
#[allow(
    dead_code,
    reason = "shared by several test crates, each using part of it"
)]
mod ask;

#[path = "model/generate.rs"]
#[allow(
    dead_code,
    reason = "shared by several test crates, each using part of it"
)]
#[expect(clippy::panic, reason = "a generator bug fails the test loudly")]
mod generate;

use std::collections::BTreeMap;

use ask::Ask;
use callgate::model::{CustomRole, Directory};
use callgate::{Action, Category, FeatureKind, RecordingAction, Table, Tenant, directory};
use generate::{Choices, SOS_URNS, spellings};
use proptest::prelude::*;
use proptest::sample::select;
use reference::{Answer, PLATFORM_EMERGENCY};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn table_of(tenants: &[Tenant]) -> Table {
    let table = Table::new();
    table.replace_all(tenants, 1);
    table
}

/// Tenants `ids`, each built from the same choices in turn (so their ids collide).
fn tenants_named(bytes: &[u8], ids: &[&str]) -> Vec<Tenant> {
    let mut c = Choices::new(bytes);
    let tenants = ids.iter().map(|id| generate::tenant(id, &mut c)).collect();
    generate::valid(Directory { tenants })
}

// ------------------------------------------------------ (a) nothing crosses tenants

proptest! {
    #![proptest_config(config(128))]

    /// "Tenant: `id` (slug). Owns everything below. Nothing ever crosses tenants." — two
    /// generated tenants drawing on the same ids (users, extensions, queues and their dial
    /// strings, numbers, sites, custom roles) with other rights: a table holding both answers
    /// every question about each as a table holding that one alone does.
    #[test]
    fn no_decision_crosses_tenants(
        bytes in generate::directory_bytes(),
        asks in proptest::collection::vec((select(&["acme", "globex"][..]), generate::ask()), 64),
    ) {
        let both = tenants_named(&bytes, &["acme", "globex"]);
        let together = table_of(&both);
        let alone: Vec<Table> = both.iter().map(|t| table_of(std::slice::from_ref(t))).collect();
        for (tenant, q) in &asks {
            let i = usize::from(*tenant == "globex");
            let Some(alone) = alone.get(i) else { continue };
            prop_assert_eq!(
                ask::engine(&together, tenant, q),
                ask::engine(alone, tenant, q),
                "{} {:?}", tenant, q
            );
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

/// Whether the custom role's matrix names `action` on `category`.
fn names(role: &CustomRole, category: Category, action: Action) -> bool {
    role.permissions
        .get(category.as_str())
        .is_some_and(|actions| actions.iter().any(|a| a == action.as_str()))
}

/// The permission a question turns on, if a custom role could be what lets it through.
fn permission_behind(ask: &Ask, answer: &Answer) -> Option<(Category, Action)> {
    match ask {
        Ask::CallerId { .. } => Some((Category::PhoneNumbers, Action::Edit)),
        Ask::Pause { .. } => Some((Category::CallQueues, Action::Edit)),
        Ask::Recording { action, .. } => Some((
            Category::CallRecordings,
            match action {
                RecordingAction::List | RecordingAction::Play => Action::View,
                RecordingAction::Download => Action::Download,
                RecordingAction::Delete => Action::Delete,
            },
        )),
        Ask::Permission {
            category, action, ..
        } => Some((*category, *action)),
        Ask::Feature { .. } => match answer.feature.and_then(|f| f.parse::<FeatureKind>().ok()) {
            Some(FeatureKind::QueuePauseToggle) => Some((Category::CallQueues, Action::Edit)),
            Some(FeatureKind::QueueCallers) => Some((Category::CallQueues, Action::View)),
            Some(FeatureKind::CallForwardOn | FeatureKind::CallForwardOff) => {
                Some((Category::Extensions, Action::Edit))
            }
            Some(FeatureKind::VoicemailBox) => Some((Category::Voicemail, Action::View)),
            Some(FeatureKind::PickupDirected) => Some((Category::PickupGroups, Action::View)),
            Some(FeatureKind::Park) => Some((Category::ParkingLots, Action::View)),
            _ => None,
        },
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// "Custom role: a tenant-defined matrix, added to the built-in role's (it grants, never
    /// removes)." — giving every user of a generated tenant a custom role, whatever its
    /// matrix and scope: (1) everything allowed without it is allowed with it, with the same
    /// caller ID; (2) whatever it newly lets through is something its matrix names.
    #[test]
    fn a_custom_role_never_narrows_and_only_adds_what_it_names(
        bytes in generate::directory_bytes(),
        role in custom_role(),
        asks in proptest::collection::vec(generate::ask(), 128),
    ) {
        let mut without = tenants_named(&bytes, &["acme"]);
        for t in &mut without {
            t.users.iter_mut().for_each(|u| u.custom_role = None);
        }
        let mut with = without.clone();
        for t in &mut with {
            t.roles.push(role.clone());
            t.users.iter_mut().for_each(|u| u.custom_role = Some("extra".into()));
        }
        let with = generate::valid(Directory { tenants: with });
        let (before_t, after_t) = (table_of(&without), table_of(&with));
        for q in &asks {
            let before = ask::engine(&before_t, "acme", q);
            let after = ask::engine(&after_t, "acme", q);
            if before.allowed() {
                prop_assert!(after.allowed(), "{:?}: {:?} without, {:?} with", q, before, after);
                // The number presented stays; an emergency call that went out with none may
                // gain one (checked below).
                if before.caller_id.is_some() {
                    prop_assert_eq!(&after.caller_id, &before.caller_id, "{:?}", q);
                }
            }
            let gained = (after.allowed() && !before.allowed())
                || (after.decision != "deny" && after.caller_id != before.caller_id);
            if gained {
                let behind = permission_behind(q, &after);
                prop_assert!(
                    behind.is_some_and(|(c, a)| names(&role, c, a)),
                    "{:?}: {:?} without, {:?} with a role of {:?}", q, before, after, role
                );
            }
        }
    }
}

// ------------------------------------------------- (c) emergency calls are never denied

proptest! {
    #![proptest_config(config(48))]

    /// "`dialed` is an emergency target [...] → never denied, whatever the user's, tenant's
    /// or replica's state" and "Only numbers the tenant owns: with none, `allow` with no
    /// caller ID" — for every generated directory, every tenant (and one nobody has), every
    /// user (known, unknown, suspended), every requested caller ID, every spelling of every
    /// emergency number (the platform's, the tenant's) and every SOS URN.
    #[test]
    fn an_emergency_call_is_never_denied(
        bytes in generate::directory_bytes(),
        requested in proptest::option::of(select(&["+15550100001", "+15559990000", "x", ""][..])),
    ) {
        let tenants = generate::directory(&bytes);
        let table = table_of(&tenants);
        let mut users: Vec<&str> = generate::USERS.to_vec();
        users.extend(["zed", ""]);
        let mut asked_of: Vec<(&str, Vec<String>)> = tenants
            .iter()
            .map(|t| (t.id.as_str(), t.emergency_numbers.clone()))
            .collect();
        asked_of.push(("nowhere", Vec::new()));
        for (tenant, own) in &asked_of {
            let owned: Vec<&str> = tenants
                .iter()
                .filter(|t| t.id == *tenant)
                .flat_map(|t| t.numbers.iter().map(|n| n.number.as_str()))
                .collect();
            let mut dialed: Vec<String> = SOS_URNS.iter().map(|s| (*s).to_string()).collect();
            for n in PLATFORM_EMERGENCY.iter().copied().chain(own.iter().map(String::as_str)) {
                dialed.extend(spellings(n));
            }
            for user in &users {
                for d in &dialed {
                    let a = table.check_caller_id(tenant, *user, requested, d);
                    prop_assert_ne!(a.outcome.as_str(), "deny", "{} {} {:?} {:?}", tenant, user, d, a);
                    if let Some(n) = a.caller_id {
                        let n = n.to_string();
                        prop_assert!(owned.contains(&n.as_str()), "{} {} {} presents {}", tenant, user, d, n);
                    }
                    let f = table.check_feature_code(tenant, *user, d);
                    prop_assert_eq!(f.outcome.as_str(), "allow", "{} {} {:?} {:?}", tenant, user, d, f);
                }
            }
        }
    }

    /// "A `requested` number the tenant doesn't own is never allowed (`number_not_owned`),
    /// whoever asks" — nor presented in any other way: every caller ID any answer carries is
    /// one of the asked tenant's numbers.
    #[test]
    fn a_caller_id_presented_is_always_the_tenants(
        bytes in generate::directory_bytes(),
        asks in proptest::collection::vec((generate::tenant_id(), generate::ask()), 128),
    ) {
        let tenants = generate::directory(&bytes);
        let table = table_of(&tenants);
        for (drawn, q) in &asks {
            let tenant = generate::resolve_tenant(&tenants, drawn);
            let a = ask::engine(&table, tenant, q);
            if let Some(n) = &a.caller_id {
                let owned = tenants
                    .iter()
                    .filter(|t| t.id == *tenant)
                    .any(|t| t.numbers.iter().any(|x| x.number == *n));
                prop_assert!(owned, "{} {:?} presents {}", tenant, q, n);
            }
        }
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

proptest! {
    #![proptest_config(config(64))]

    /// "Import is idempotent" — and what a directory means doesn't depend on the order its
    /// file lists things in: a generated directory with every list shuffled decides every
    /// question as the same directory in canonical order does, reasons and caller IDs
    /// included, whether it is read from a file or handed to the table as it is; and
    /// explains every user the same.
    #[test]
    fn decisions_do_not_depend_on_the_order_of_the_directory(
        bytes in generate::directory_bytes(),
        seed in any::<u64>(),
        asks in proptest::collection::vec((generate::tenant_id(), generate::ask()), 64),
    ) {
        let written = generate::raw_directory(&bytes);
        let canonical = generate::valid(written.clone());
        let reference = table_of(&canonical);
        let mut shuffled = written.clone();
        Shuffler(seed).directory(&mut shuffled);
        let yaml = serde_yaml_ng::to_string(&shuffled).unwrap();
        let from_file = table_of(&directory::parse(&yaml).unwrap());
        directory::validate(shuffled.clone()).unwrap();
        let as_is = table_of(&shuffled.tenants);
        for (drawn, q) in &asks {
            let tenant = generate::resolve_tenant(&canonical, drawn);
            let expected = ask::engine(&reference, tenant, q);
            prop_assert_eq!(&ask::engine(&from_file, tenant, q), &expected, "{} {:?} (read from the file)", tenant, q);
            prop_assert_eq!(&ask::engine(&as_is, tenant, q), &expected, "{} {:?} (handed over as is)", tenant, q);
        }
        for t in &canonical {
            for u in &t.users {
                let expected = serde_json::to_value(reference.explain(&t.id, &u.id)).unwrap();
                prop_assert_eq!(&serde_json::to_value(from_file.explain(&t.id, &u.id)).unwrap(), &expected, "{} {}", t.id, u.id);
                let as_is = serde_json::to_value(as_is.explain(&t.id, &u.id)).unwrap();
                prop_assert_eq!(&as_is, &expected, "{} {} (as is)", t.id, u.id);
            }
        }
    }
}

/// The smallest case of the property above, found by it: a user with no site of their own
/// whose extensions are at two sites. Their site (and so what site scope reaches, the numbers
/// they may present) must not depend on which extension the file lists first.
#[test]
fn a_users_site_does_not_depend_on_the_order_of_their_extensions() {
    let yaml = |first: &str, second: &str| {
        format!(
            "tenants:\n  - id: t\n    sites: [{{id: hq}}, {{id: depot}}]\n    numbers:\n      - {{number: '+15550100001', site: hq}}\n      - {{number: '+15550100002', site: depot}}\n    extensions:\n      - {first}\n      - {second}\n    users: [{{id: u, role: site_manager}}]\n"
        )
    };
    let a = "{ext: '100', site: depot, user: u}";
    let b = "{ext: '101', site: hq, user: u}";
    let canonical = directory::parse(&yaml(a, b)).unwrap();
    let written: Directory = serde_yaml_ng::from_str(&yaml(b, a)).unwrap();
    let (canonical, as_is) = (table_of(&canonical), table_of(&written.tenants));
    for n in ["+15550100001", "+15550100002"] {
        assert_eq!(
            as_is.check_caller_id("t", "u", Some(n), "5551234"),
            canonical.check_caller_id("t", "u", Some(n), "5551234"),
            "{n}"
        );
    }
}
