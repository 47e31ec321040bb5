//! One-entity edits against the whole-tenant path they shortcut, on generated directories
//! (`tests/model/generate.rs`): the store applies a delete to the stored tenant without
//! validating it again and writes only the rows of the edit's neighbourhood, so both must be
//! exactly what validating the whole edited tenant gives.
//!
//! `PROPTEST_CASES=N` sets the number of directories (default 300).

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

use callgate::edit::{Edit, Kind};
use callgate::model::Tenant;
use callgate::{Directory, directory};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300)
}

/// The form the store keeps a tenant in: validated, with matrix entries that grant nothing
/// dropped (as the daemon's `rows::storable`).
fn stored(mut t: Tenant) -> Tenant {
    for r in &mut t.roles {
        r.permissions.retain(|_, actions| !actions.is_empty());
    }
    t
}

/// The whole-tenant path: the edit applied, then the tenant validated and stored.
fn whole(t: &Tenant, edit: &Edit) -> Result<(bool, Tenant), String> {
    let mut edited = t.clone();
    let changed = edit.apply(&mut edited);
    let valid = directory::validate(Directory {
        tenants: vec![edited],
    })
    .map_err(|e| e.to_string())?;
    let out = valid.into_iter().next().map(stored).unwrap_or_default();
    Ok((changed, out))
}

/// `t` with every entity of `before` (a neighbourhood of it) replaced by `after`'s entity of
/// the same key, or removed if `after` has none; and `after`'s own fields.
fn splice(t: &Tenant, before: &Tenant, after: &Tenant) -> Tenant {
    fn each<T: Clone>(list: &[T], before: &[T], after: &[T], key: impl Fn(&T) -> &str) -> Vec<T> {
        list.iter()
            .filter_map(|x| {
                if !before.iter().any(|b| key(b) == key(x)) {
                    return Some(x.clone());
                }
                after.iter().find(|a| key(a) == key(x)).cloned()
            })
            .collect()
    }
    Tenant {
        id: t.id.clone(),
        default_caller_id: after.default_caller_id.clone(),
        emergency_numbers: after.emergency_numbers.clone(),
        sites: t.sites.clone(),
        numbers: each(&t.numbers, &before.numbers, &after.numbers, |x| &x.number),
        extensions: each(&t.extensions, &before.extensions, &after.extensions, |x| {
            &x.ext
        }),
        queues: each(&t.queues, &before.queues, &after.queues, |x| &x.id),
        roles: each(&t.roles, &before.roles, &after.roles, |x| &x.id),
        feature_codes: each(
            &t.feature_codes,
            &before.feature_codes,
            &after.feature_codes,
            |x| &x.code,
        ),
        users: each(&t.users, &before.users, &after.users, |x| &x.id),
    }
}

/// Every delete this tenant could be asked for: each entity it has, and some it has not.
fn deletes(t: &Tenant) -> Vec<Edit> {
    let mut out = Vec::new();
    let mut add = |kind: Kind, keys: Vec<&str>| {
        for k in keys.into_iter().chain(["nope", "+15550009999", "*99"]) {
            out.push(Edit::Delete(kind, k.to_string()));
        }
    };
    add(Kind::User, t.users.iter().map(|x| x.id.as_str()).collect());
    add(Kind::Role, t.roles.iter().map(|x| x.id.as_str()).collect());
    add(
        Kind::Number,
        t.numbers.iter().map(|x| x.number.as_str()).collect(),
    );
    add(
        Kind::Extension,
        t.extensions.iter().map(|x| x.ext.as_str()).collect(),
    );
    add(
        Kind::Queue,
        t.queues.iter().map(|x| x.id.as_str()).collect(),
    );
    add(
        Kind::FeatureCode,
        t.feature_codes.iter().map(|x| x.code.as_str()).collect(),
    );
    out
}

/// "A delete keeps a valid tenant valid": applied straight to a stored tenant it gives
/// exactly what validating the whole edited tenant gives (so the store may skip that), and
/// the edit applied to its neighbourhood alone changes the tenant the same way (so the store
/// may write that neighbourhood's rows only).
#[test]
fn a_delete_applied_in_place_is_what_validating_the_whole_tenant_gives() {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let edits = std::cell::Cell::new(0u64);
    let result = runner.run(&generate::directory_bytes(), |bytes| {
        for t in generate::directory(&bytes).into_iter().map(stored) {
            for edit in deletes(&t) {
                assert!(edit.keeps_valid());
                let (changed_whole, want) =
                    whole(&t, &edit).map_err(|e| TestCaseError::fail(format!("{edit:?}: {e}")))?;
                let mut fast = t.clone();
                let changed = edit.apply(&mut fast);
                let before = edit.neighbourhood(&t);
                let mut after = before.clone();
                let changed_part = edit.apply(&mut after);
                let context = || {
                    format!(
                        "{edit:?} on {}",
                        serde_json::to_string(&t).unwrap_or_default()
                    )
                };
                if (changed, changed_part) != (changed_whole, changed_whole) {
                    return Err(TestCaseError::fail(format!("found differs: {}", context())));
                }
                if fast != want {
                    return Err(TestCaseError::fail(format!(
                        "in place: {}\n got {}\nwant {}",
                        context(),
                        serde_json::to_string(&fast).unwrap_or_default(),
                        serde_json::to_string(&want).unwrap_or_default()
                    )));
                }
                if splice(&t, &before, &after) != want {
                    return Err(TestCaseError::fail(format!("neighbourhood: {}", context())));
                }
                edits.set(edits.get() + 1);
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!("{} deletes compared", edits.get());
    assert!(edits.get() > 0);
}

/// A put is not one of them: it is validated with the whole tenant.
#[test]
fn only_deletes_skip_validation() {
    let user = callgate::model::User {
        id: "a".into(),
        role: "nobody-knows".into(),
        ..Default::default()
    };
    let edit = Edit::Put(callgate::edit::Entity::User(user));
    assert!(!edit.keeps_valid());
    let mut t = Tenant {
        id: "t".into(),
        ..Tenant::default()
    };
    assert!(edit.apply(&mut t));
    assert!(
        whole(
            &Tenant {
                id: "t".into(),
                ..Tenant::default()
            },
            &edit
        )
        .is_err()
    );
}
