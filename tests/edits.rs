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

/// Runs `test` on `cases()` values of `strategy`; a failure (shrunk) fails the test.
#[expect(
    clippy::panic,
    reason = "a failed property fails the test that runs it"
)]
fn check<S: proptest::strategy::Strategy>(
    strategy: &S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(e) = runner.run(strategy, test) {
        panic!("{e}");
    }
}

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
/// the same key, or removed if `after` has none, and `after`'s other entities added; and
/// `after`'s own fields.
fn splice(t: &Tenant, before: &Tenant, after: &Tenant) -> Tenant {
    fn each<T: Clone>(list: &[T], before: &[T], after: &[T], key: impl Fn(&T) -> &str) -> Vec<T> {
        let mut out: Vec<T> = list
            .iter()
            .filter_map(|x| {
                if !before.iter().any(|b| key(b) == key(x)) {
                    return Some(x.clone());
                }
                after.iter().find(|a| key(a) == key(x)).cloned()
            })
            .collect();
        // What the part gained.
        out.extend(
            after
                .iter()
                .filter(|a| !list.iter().any(|x| key(x) == key(a)))
                .cloned(),
        );
        out.sort_by(|a, b| key(a).cmp(key(b)));
        out
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
    let edits = std::cell::Cell::new(0u64);
    check(&generate::directory_bytes(), |bytes| {
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

/// Puts an admin could make to this tenant: each of a few users suspended, reactivated,
/// given another role, stripped of their grants and extensions, given an extension nobody
/// owns; a new user; each queue's agents and supervisors changed.
fn puts(t: &Tenant) -> Vec<Edit> {
    use callgate::edit::Entity;
    let mut out = Vec::new();
    let free: Option<String> = t
        .extensions
        .iter()
        .find(|e| e.user.is_none())
        .map(|e| e.ext.clone());
    for u in t.users.iter().take(4) {
        let mut variants = Vec::new();
        let mut x = u.clone();
        x.status = if u.status.is_some() {
            None
        } else {
            Some("suspended".into())
        };
        variants.push(x);
        let mut x = u.clone();
        x.role = if u.role == "basic_user" {
            "admin".into()
        } else {
            "basic_user".into()
        };
        x.custom_role = None;
        variants.push(x);
        let mut x = u.clone();
        x.grants = Default::default();
        x.extensions.clear();
        x.default_caller_id = None;
        variants.push(x);
        if let Some(ext) = &free {
            let mut x = u.clone();
            x.extensions.push(ext.clone());
            variants.push(x);
        }
        out.extend(variants.into_iter().map(|x| Edit::Put(Entity::User(x))));
    }
    let newcomer = generate::USERS
        .iter()
        .find(|id| !t.users.iter().any(|u| u.id == **id));
    if let (Some(id), Some(model)) = (newcomer, t.users.first()) {
        let mut x = model.clone();
        x.id = (*id).to_string();
        x.extensions = free.iter().cloned().collect();
        out.push(Edit::Put(Entity::User(x)));
    }
    let ids: Vec<String> = t.users.iter().map(|u| u.id.clone()).collect();
    for q in &t.queues {
        let mut x = q.clone();
        x.agents = ids.iter().step_by(2).cloned().collect();
        x.supervisors = ids.iter().skip(1).step_by(3).cloned().collect();
        out.push(Edit::Put(Entity::Queue(x)));
    }
    out
}

/// The same question about another user.
fn about(ask: &ask::Ask, who: &str) -> ask::Ask {
    use ask::Ask;
    let mut a = ask.clone();
    match &mut a {
        Ask::CallerId { user, .. } | Ask::Feature { user, .. } | Ask::Permission { user, .. } => {
            *user = who.to_string();
        }
        Ask::Pause { actor, .. } | Ask::Recording { actor, .. } => *actor = who.to_string(),
    }
    a
}

/// A compiled tenant patched with a change ([`callgate::CompiledTenant::spliced`]) answers
/// every question as the tenant compiled whole after the change does; and the change,
/// applied to the tenant's model ([`callgate::edit::Splice::apply_to`], what a replica does
/// with a snapshot's splices), gives the tenant after it.
#[test]
fn a_patched_tenant_answers_as_the_tenant_compiled_whole() {
    use callgate::edit::Splice;
    use callgate::{CompiledTenant, Table};
    use std::sync::Arc;
    let strategy = (
        generate::directory_bytes(),
        proptest::collection::vec(generate::ask(), 24),
    );
    let (patched, asked) = (std::cell::Cell::new(0u64), std::cell::Cell::new(0u64));
    check(&strategy, |(bytes, asks)| {
        let tenants: Vec<Tenant> = generate::directory(&bytes)
            .into_iter()
            .map(stored)
            .collect();
        for t in &tenants {
            let base = CompiledTenant::compile(t, 1);
            for edit in deletes(t).into_iter().chain(puts(t)) {
                let Ok((_, after)) = whole(t, &edit) else {
                    continue;
                };
                let splice = Arc::new(Splice::between(t, &after));
                let mut applied = t.clone();
                splice.apply_to(&mut applied);
                if applied != after {
                    return Err(TestCaseError::fail(format!("apply_to: {edit:?}")));
                }
                let Some(spliced) = base.spliced(&splice, 2) else {
                    continue;
                };
                patched.set(patched.get() + 1);
                let (with_patch, compiled) = (Table::new(), Table::new());
                with_patch.replace_all(&tenants, 2);
                with_patch.put_compiled(spliced);
                let mut others = tenants.clone();
                if let Some(slot) = others.iter_mut().find(|x| x.id == t.id) {
                    *slot = after.clone();
                }
                compiled.replace_all(&others, 2);
                let questions = asks.iter().flat_map(|q| [q.clone(), about(q, edit.key())]);
                for q in questions {
                    let (got, want) = (
                        ask::engine(&with_patch, &t.id, &q),
                        ask::engine(&compiled, &t.id, &q),
                    );
                    asked.set(asked.get() + 1);
                    if got != want {
                        return Err(TestCaseError::fail(format!(
                            "{edit:?}\nquestion: {q:?}\npatched: {got:?}\ncompiled: {want:?}\n\
                             tenant: {}",
                            serde_json::to_string(t).unwrap_or_default()
                        )));
                    }
                }
            }
        }
        Ok(())
    });
    eprintln!(
        "{} patched tenants, {} questions compared",
        patched.get(),
        asked.get()
    );
    assert!(patched.get() > 0);
}

/// "Add tests that a one-user change leaves every other user's answers unchanged (compare
/// before/after over the whole tenant)": a user deleted, suspended, given another role or
/// stripped of their grants changes no answer to a question that neither comes from them nor
/// names them (by id, or by an extension of theirs before or after, as `*46*<device>*<queue>` does), over
/// every user of the tenant and generated questions.
#[test]
fn a_one_user_change_leaves_every_other_users_answers_as_they_were() {
    use callgate::edit::Entity;
    use callgate::{CompiledTenant, Table};
    use std::sync::Arc;
    let strategy = (
        generate::directory_bytes(),
        proptest::collection::vec(generate::ask(), 16),
    );
    let asked = std::cell::Cell::new(0u64);
    check(&strategy, |(bytes, asks)| {
        let tenants: Vec<Tenant> = generate::directory(&bytes)
            .into_iter()
            .map(stored)
            .collect();
        for t in &tenants {
            let before = Table::new();
            before.replace_all(&tenants, 1);
            let base = CompiledTenant::compile(t, 1);
            let one_user = deletes(t)
                .into_iter()
                .filter(|e| e.kind() == Kind::User)
                .chain(
                    puts(t)
                        .into_iter()
                        .filter(|e| matches!(e, Edit::Put(Entity::User(_)))),
                );
            for edit in one_user {
                let Ok((_, after)) = whole(&t.clone(), &edit) else {
                    continue;
                };
                let changed = edit.key();
                let theirs: Vec<&str> = t
                    .users
                    .iter()
                    .chain(&after.users)
                    .filter(|u| u.id == changed)
                    .flat_map(|u| u.extensions.iter().map(String::as_str))
                    .chain([changed])
                    .collect();
                let splice = Arc::new(callgate::edit::Splice::between(t, &after));
                let Some(patched) = base.spliced(&splice, 2) else {
                    return Err(TestCaseError::fail(format!("{edit:?} does not patch")));
                };
                let now = Table::new();
                now.replace_all(&tenants, 1);
                now.put_compiled(patched);
                for other in t.users.iter().filter(|u| u.id != changed) {
                    for q in asks.iter().map(|q| about(q, &other.id)) {
                        let text = format!("{q:?}");
                        if theirs.iter().any(|x| text.contains(x)) {
                            continue;
                        }
                        let (was, is) = (
                            ask::engine(&before, &t.id, &q),
                            ask::engine(&now, &t.id, &q),
                        );
                        asked.set(asked.get() + 1);
                        if was != is {
                            return Err(TestCaseError::fail(format!(
                                "{edit:?} changed {q:?}: {was:?} → {is:?}"
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    });
    eprintln!("{} answers of other users compared", asked.get());
    assert!(asked.get() > 0);
}

/// User puts, valid and not: the ones of [`puts`], and users with an unknown role, custom
/// role, site, number, queue, extension or feature, an extension another user owns, an
/// extension that is no dial string (and granted too), `status: active`, repeated grants,
/// and an empty id.
fn user_puts(t: &Tenant) -> Vec<callgate::model::User> {
    use callgate::edit::Entity;
    let mut out: Vec<callgate::model::User> = puts(t)
        .into_iter()
        .filter_map(|e| match e {
            Edit::Put(Entity::User(u)) => Some(u),
            _ => None,
        })
        .collect();
    let taken = t
        .extensions
        .iter()
        .find_map(|e| Some((e.ext.clone(), e.user.clone()?)));
    let number = t.numbers.first().map(|n| n.number.clone());
    for u in t.users.iter().take(3) {
        let mut bad = Vec::new();
        let mut x = u.clone();
        x.role = "overlord".into();
        bad.push(x);
        let mut x = u.clone();
        x.custom_role = Some("nope".into());
        x.site = Some("atlantis".into());
        bad.push(x);
        let mut x = u.clone();
        x.grants.numbers = vec!["+19990000000".into(), "5551234".into()];
        x.grants.queues = vec!["nope".into()];
        x.grants.extensions = vec!["999".into(), "*bad".into()];
        x.grants.features = vec!["teleport".into()];
        x.default_caller_id = Some("+19990000001".into());
        bad.push(x);
        if let Some((ext, owner)) = &taken
            && owner != &u.id
        {
            let mut x = u.clone();
            x.extensions.push(ext.clone());
            bad.push(x);
        }
        let mut x = u.clone();
        x.extensions.push("*bad".into());
        x.grants.extensions.push("*bad".into());
        bad.push(x);
        let mut x = u.clone();
        x.status = Some("active".into());
        x.grants
            .numbers
            .extend(number.iter().cloned().chain(number.iter().cloned()));
        x.extensions.push("777".into());
        x.grants.extensions.push("777".into());
        bad.push(x);
        let mut x = u.clone();
        x.status = Some("retired".into());
        bad.push(x);
        out.extend(bad);
    }
    out.push(callgate::model::User {
        id: " ".into(),
        role: "basic_user".into(),
        ..Default::default()
    });
    out
}

/// "A put of one user is checked and normalized without the rest of the tenant": for every
/// user put, valid or not, `directory::put_user` gives exactly the tenant, or exactly the
/// problems, that validating the whole tenant with the user in it gives (and on a problem
/// leaves the tenant as it was); and the edit's neighbourhood before and after it is all
/// that changed.
#[test]
fn a_user_put_checked_alone_is_what_validating_the_whole_tenant_gives() {
    use callgate::edit::{Entity, part_after};
    let (compared, refused) = (std::cell::Cell::new(0u64), std::cell::Cell::new(0u64));
    check(&generate::directory_bytes(), |bytes| {
        for t in generate::directory(&bytes).into_iter().map(stored) {
            for u in user_puts(&t) {
                let edit = Edit::Put(Entity::User(u.clone()));
                let want = whole(&t, &edit).map(|(_, after)| after);
                let mut fast = t.clone();
                let got = directory::put_user(&mut fast, u.clone(), &directory::Limits::default())
                    .map(|()| fast.clone())
                    .map_err(|e| e.to_string());
                let context = || {
                    format!(
                        "{u:?} into {}",
                        serde_json::to_string(&t).unwrap_or_default()
                    )
                };
                if got != want {
                    return Err(TestCaseError::fail(format!(
                        "{}\n got {got:?}\nwant {want:?}",
                        context()
                    )));
                }
                compared.set(compared.get() + 1);
                let Ok(after) = got else {
                    refused.set(refused.get() + 1);
                    if fast != t {
                        return Err(TestCaseError::fail(format!(
                            "changed on refusal: {}",
                            context()
                        )));
                    }
                    continue;
                };
                let before = edit.neighbourhood(&t);
                let listed = after
                    .users
                    .iter()
                    .find(|x| x.id == u.id)
                    .map(|x| x.extensions.clone())
                    .unwrap_or_default();
                let part = part_after(&after, &before, std::slice::from_ref(&u.id), &listed);
                if splice(&t, &before, &part) != after {
                    return Err(TestCaseError::fail(format!("neighbourhood: {}", context())));
                }
            }
        }
        Ok(())
    });
    eprintln!(
        "{} user puts compared ({} refused)",
        compared.get(),
        refused.get()
    );
    assert!(refused.get() > 0 && refused.get() < compared.get());
}
