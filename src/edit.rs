//! One change to one entity of a tenant: what the admin API's per-entity `PUT` and `DELETE`
//! do, as a value the store, the table and the feed can all act on.
//!
//! A delete removes the entity and every reference to it (the cascade the seeds describe:
//! "Users with this role lose the role's permissions but keep their built-in role's
//! defaults"), so applying one to a valid tenant in stored form leaves it valid and in stored
//! form: the store applies deletes without validating the whole tenant again
//! ([`Edit::keeps_valid`]), and writes only the rows of [`Edit::neighbourhood`], the entities
//! the edit can change. A property test (`tests/edits.rs`) checks both claims on generated
//! directories against the whole-tenant path.

use serde::{Deserialize, Serialize};

use crate::model::{CustomRole, Extension, FeatureCode, Number, Queue, Tenant, User};

/// The kinds of entity a tenant holds one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A user, keyed by id.
    User,
    /// A custom role, keyed by id.
    Role,
    /// A number (DID), keyed by its E.164 text.
    Number,
    /// An extension, keyed by its dial string.
    Extension,
    /// A queue, keyed by id.
    Queue,
    /// A feature-code entry, keyed by its code.
    FeatureCode,
}

impl Kind {
    /// What an error message calls one (`user`, `feature code`, …).
    pub fn what(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Role => "role",
            Kind::Number => "number",
            Kind::Extension => "extension",
            Kind::Queue => "queue",
            Kind::FeatureCode => "feature code",
        }
    }
}

/// One entity, whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entity {
    /// A user.
    User(User),
    /// A custom role.
    Role(CustomRole),
    /// A number.
    Number(Number),
    /// An extension.
    Extension(Extension),
    /// A queue.
    Queue(Queue),
    /// A feature-code entry.
    FeatureCode(FeatureCode),
}

impl Entity {
    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Entity::User(_) => Kind::User,
            Entity::Role(_) => Kind::Role,
            Entity::Number(_) => Kind::Number,
            Entity::Extension(_) => Kind::Extension,
            Entity::Queue(_) => Kind::Queue,
            Entity::FeatureCode(_) => Kind::FeatureCode,
        }
    }

    /// Its key.
    pub fn key(&self) -> &str {
        match self {
            Entity::User(u) => &u.id,
            Entity::Role(r) => &r.id,
            Entity::Number(n) => &n.number,
            Entity::Extension(e) => &e.ext,
            Entity::Queue(q) => &q.id,
            Entity::FeatureCode(c) => &c.code,
        }
    }
}

/// One change to one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one edit is made at a time; a put moves its entity in whole"
)]
pub enum Edit {
    /// Puts the entity in place of the one with its key, or adds it.
    Put(Entity),
    /// Deletes the entity of that kind and key, and every reference to it.
    Delete(Kind, String),
}

/// Replaces the item whose key is `key` with `item`, or appends it.
fn put<T>(list: &mut Vec<T>, item: T, key: impl Fn(&T) -> &str) {
    let k = key(&item).to_string();
    match list.iter_mut().find(|x| key(x) == k) {
        Some(slot) => *slot = item,
        None => list.push(item),
    }
}

/// The items of `xs` that `f` picks, copied.
fn pick<T: Clone>(xs: &[T], f: impl Fn(&T) -> bool) -> Vec<T> {
    xs.iter().filter(|x| f(x)).cloned().collect()
}

/// Removes the items whose key is `k`; whether there was one.
fn remove<T>(list: &mut Vec<T>, k: &str, key: impl Fn(&T) -> &str) -> bool {
    let before = list.len();
    list.retain(|x| key(x) != k);
    list.len() != before
}

impl Edit {
    /// The kind of entity it changes.
    pub fn kind(&self) -> Kind {
        match self {
            Edit::Put(e) => e.kind(),
            Edit::Delete(kind, _) => *kind,
        }
    }

    /// The key of the entity it changes.
    pub fn key(&self) -> &str {
        match self {
            Edit::Put(e) => e.key(),
            Edit::Delete(_, key) => key,
        }
    }

    /// Whether applying it to a valid tenant in stored form leaves one, with no need to
    /// validate again: every delete does (it removes every reference to what it deletes; a
    /// list it shortens stays in order).
    pub fn keeps_valid(&self) -> bool {
        matches!(self, Edit::Delete(..))
    }

    /// Applies it to `t`; whether it changed what `t` holds (a delete of an entity `t` does
    /// not have does nothing). A put leaves `t` to be validated (and so normalized).
    pub fn apply(&self, t: &mut Tenant) -> bool {
        match self {
            Edit::Put(entity) => {
                match entity.clone() {
                    Entity::User(u) => put(&mut t.users, u, |x| &x.id),
                    Entity::Role(r) => put(&mut t.roles, r, |x| &x.id),
                    Entity::Number(n) => put(&mut t.numbers, n, |x| &x.number),
                    Entity::Extension(e) => put(&mut t.extensions, e, |x| &x.ext),
                    Entity::Queue(q) => put(&mut t.queues, q, |x| &x.id),
                    Entity::FeatureCode(c) => put(&mut t.feature_codes, c, |x| &x.code),
                }
                true
            }
            Edit::Delete(Kind::User, id) => t.delete_user(id),
            Edit::Delete(Kind::Role, id) => t.delete_role(id),
            Edit::Delete(Kind::Number, number) => t.delete_number(number),
            Edit::Delete(Kind::Extension, ext) => {
                let found = remove(&mut t.extensions, ext, |e| &e.ext);
                for u in &mut t.users {
                    u.extensions.retain(|e| e != ext);
                    u.grants.extensions.retain(|e| e != ext);
                }
                for n in &mut t.numbers {
                    if n.extension.as_deref() == Some(ext.as_str()) {
                        n.extension = None;
                    }
                }
                found
            }
            Edit::Delete(Kind::Queue, id) => {
                let found = remove(&mut t.queues, id, |q| &q.id);
                for u in &mut t.users {
                    u.grants.queues.retain(|q| q != id);
                }
                found
            }
            Edit::Delete(Kind::FeatureCode, code) => {
                remove(&mut t.feature_codes, code, |c| &c.code)
            }
        }
    }

    /// The part of `t` this edit can change, for a delete of any entity or a put of a user:
    /// the tenant's own fields, the entity, every entity that names it, and (a user put) the
    /// extensions the user lists (in `t`'s order). Applying a delete to it changes it as
    /// applying the edit to `t` changes those entities, so the rows to write and the change
    /// log's diff come from it alone, whatever the tenant's size.
    pub fn neighbourhood(&self, t: &Tenant) -> Tenant {
        let key = self.key();
        let has = |list: &[String]| list.iter().any(|x| x == key);
        let is = |x: &Option<String>| x.as_deref() == Some(key);
        let mut part = Tenant {
            id: t.id.clone(),
            default_caller_id: t.default_caller_id.clone(),
            emergency_numbers: t.emergency_numbers.clone(),
            ..Tenant::default()
        };
        match self.kind() {
            Kind::User => {
                // A put also makes the extensions it lists the user's.
                let listed: &[String] = match self {
                    Edit::Put(Entity::User(u)) => &u.extensions,
                    _ => &[],
                };
                part.users = pick(&t.users, |u: &User| u.id == key);
                part.extensions = pick(&t.extensions, |e: &Extension| {
                    is(&e.user) || listed.contains(&e.ext)
                });
                part.queues = pick(&t.queues, |q: &Queue| has(&q.agents) || has(&q.supervisors));
            }
            Kind::Role => {
                part.roles = pick(&t.roles, |r: &CustomRole| r.id == key);
                part.users = pick(&t.users, |u: &User| is(&u.custom_role));
                part.feature_codes = pick(&t.feature_codes, |c: &FeatureCode| {
                    c.roles.as_deref().is_some_and(has)
                });
            }
            Kind::Number => {
                part.numbers = pick(&t.numbers, |n: &Number| n.number == key);
                part.users = pick(&t.users, |u: &User| {
                    has(&u.grants.numbers) || is(&u.default_caller_id)
                });
            }
            Kind::Extension => {
                part.extensions = pick(&t.extensions, |e: &Extension| e.ext == key);
                part.users = pick(&t.users, |u: &User| {
                    has(&u.extensions) || has(&u.grants.extensions)
                });
                part.numbers = pick(&t.numbers, |n: &Number| is(&n.extension));
            }
            Kind::Queue => {
                part.queues = pick(&t.queues, |q: &Queue| q.id == key);
                part.users = pick(&t.users, |u: &User| has(&u.grants.queues));
            }
            Kind::FeatureCode => {
                part.feature_codes = pick(&t.feature_codes, |c: &FeatureCode| c.code == key);
            }
        }
        part
    }
}

/// What one write changed in a tenant, entity by entity: each entity added or replaced
/// whole, each removed by key, and the tenant's own fields as they are after it. It is what
/// the table patches a compiled tenant with ([`crate::table::CompiledTenant::spliced`]) and
/// what the replica feed sends for a change, so a one-user change costs the same whatever
/// the tenant's size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Splice {
    /// The entities added or replaced, and the tenant's id and own fields (default caller
    /// ID, emergency numbers) as they are after the change.
    pub put: Tenant,
    /// The keys of the entities removed.
    #[serde(default, skip_serializing_if = "Removed::is_empty")]
    pub removed: Removed,
    /// Whether the tenant's own fields changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_changed: bool,
}

/// The keys of the entities a [`Splice`] removes, by list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Removed {
    /// Site ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<String>,
    /// Numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub numbers: Vec<String>,
    /// Extensions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
    /// Queue ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<String>,
    /// Custom role ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Feature codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_codes: Vec<String>,
    /// User ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
}

impl Removed {
    /// Whether nothing is removed.
    pub fn is_empty(&self) -> bool {
        *self == Removed::default()
    }
}

/// The items of `after` that `before` lacks or holds otherwise, and the keys of `before`'s
/// items `after` lacks. Both lists are in canonical order (sorted by key), so one merge.
fn list_splice<T: Clone + PartialEq>(
    before: &[T],
    after: &[T],
    key: impl Fn(&T) -> &str,
    put: &mut Vec<T>,
    removed: &mut Vec<String>,
) {
    // The common prefix and suffix are skipped first: one entity changed in a list of
    // 100,000 compares the rest by pointer-free equality once.
    let prefix = before.iter().zip(after).take_while(|(b, a)| b == a).count();
    let (before, after) = (
        before.get(prefix..).unwrap_or_default(),
        after.get(prefix..).unwrap_or_default(),
    );
    let suffix = before
        .iter()
        .rev()
        .zip(after.iter().rev())
        .take_while(|(b, a)| b == a)
        .count();
    let (before, after) = (
        before.get(..before.len() - suffix).unwrap_or_default(),
        after.get(..after.len() - suffix).unwrap_or_default(),
    );
    let (mut b, mut a) = (before.iter().peekable(), after.iter().peekable());
    loop {
        match (b.peek(), a.peek()) {
            (None, None) => break,
            (Some(x), None) => {
                removed.push(key(x).to_string());
                b.next();
            }
            (None, Some(y)) => {
                put.push((*y).clone());
                a.next();
            }
            (Some(x), Some(y)) => match key(x).cmp(key(y)) {
                std::cmp::Ordering::Less => {
                    removed.push(key(x).to_string());
                    b.next();
                }
                std::cmp::Ordering::Greater => {
                    put.push((*y).clone());
                    a.next();
                }
                std::cmp::Ordering::Equal => {
                    if x != y {
                        put.push((*y).clone());
                    }
                    b.next();
                    a.next();
                }
            },
        }
    }
}

/// Inserts or replaces `item` in a list sorted by key, keeping it sorted.
fn upsert_sorted<T>(list: &mut Vec<T>, item: T, key: impl Fn(&T) -> &str) {
    match list.binary_search_by(|x| key(x).cmp(key(&item))) {
        Ok(i) => {
            if let Some(slot) = list.get_mut(i) {
                *slot = item;
            }
        }
        Err(i) => list.insert(i, item),
    }
}

/// Applies removals then puts to one sorted list.
fn splice_list<T: Clone>(
    list: &mut Vec<T>,
    removed: &[String],
    put: &[T],
    key: impl Fn(&T) -> &str,
) {
    if !removed.is_empty() {
        let gone: std::collections::HashSet<&str> = removed.iter().map(String::as_str).collect();
        list.retain(|x| !gone.contains(key(x)));
    }
    for item in put {
        upsert_sorted(list, item.clone(), &key);
    }
}

impl Splice {
    /// What changed from `before` to `after`, two tenants (or two neighbourhoods of one,
    /// [`Edit::neighbourhood`]) in stored form: every list sorted by key.
    pub fn between(before: &Tenant, after: &Tenant) -> Splice {
        let mut s = Splice {
            put: Tenant {
                id: after.id.clone(),
                default_caller_id: after.default_caller_id.clone(),
                emergency_numbers: after.emergency_numbers.clone(),
                ..Tenant::default()
            },
            removed: Removed::default(),
            own_changed: before.default_caller_id != after.default_caller_id
                || before.emergency_numbers != after.emergency_numbers,
        };
        let (p, r) = (&mut s.put, &mut s.removed);
        list_splice(
            &before.sites,
            &after.sites,
            |x| &x.id,
            &mut p.sites,
            &mut r.sites,
        );
        list_splice(
            &before.numbers,
            &after.numbers,
            |x| &x.number,
            &mut p.numbers,
            &mut r.numbers,
        );
        list_splice(
            &before.extensions,
            &after.extensions,
            |x| &x.ext,
            &mut p.extensions,
            &mut r.extensions,
        );
        list_splice(
            &before.queues,
            &after.queues,
            |x| &x.id,
            &mut p.queues,
            &mut r.queues,
        );
        list_splice(
            &before.roles,
            &after.roles,
            |x| &x.id,
            &mut p.roles,
            &mut r.roles,
        );
        list_splice(
            &before.feature_codes,
            &after.feature_codes,
            |x| &x.code,
            &mut p.feature_codes,
            &mut r.feature_codes,
        );
        list_splice(
            &before.users,
            &after.users,
            |x| &x.id,
            &mut p.users,
            &mut r.users,
        );
        s
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        !self.own_changed
            && self.removed.is_empty()
            && self.put.sites.is_empty()
            && self.put.numbers.is_empty()
            && self.put.extensions.is_empty()
            && self.put.queues.is_empty()
            && self.put.roles.is_empty()
            && self.put.feature_codes.is_empty()
            && self.put.users.is_empty()
    }

    /// Applies it to `t` (in stored form, as the tenant it was taken from): the result is
    /// the tenant after the change, in stored form.
    pub fn apply_to(&self, t: &mut Tenant) {
        let (p, r) = (&self.put, &self.removed);
        t.default_caller_id.clone_from(&p.default_caller_id);
        t.emergency_numbers.clone_from(&p.emergency_numbers);
        splice_list(&mut t.sites, &r.sites, &p.sites, |x| &x.id);
        splice_list(&mut t.numbers, &r.numbers, &p.numbers, |x| &x.number);
        splice_list(&mut t.extensions, &r.extensions, &p.extensions, |x| &x.ext);
        splice_list(&mut t.queues, &r.queues, &p.queues, |x| &x.id);
        splice_list(&mut t.roles, &r.roles, &p.roles, |x| &x.id);
        splice_list(
            &mut t.feature_codes,
            &r.feature_codes,
            &p.feature_codes,
            |x| &x.code,
        );
        splice_list(&mut t.users, &r.users, &p.users, |x| &x.id);
    }
}

/// The entities of `t` (after an edit) with the keys of `before`'s (the edit's
/// [`Edit::neighbourhood`] before it), and those `added` names of users and extensions: the
/// same part of the tenant, after the edit.
pub fn part_after(t: &Tenant, before: &Tenant, users: &[String], extensions: &[String]) -> Tenant {
    fn same<T: Clone>(
        all: &[T],
        before: &[T],
        more: &[String],
        key: impl Fn(&T) -> &str,
    ) -> Vec<T> {
        let mut keys: Vec<&str> = before
            .iter()
            .map(&key)
            .chain(more.iter().map(String::as_str))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .filter_map(|k| {
                let i = all.binary_search_by(|x| key(x).cmp(k)).ok()?;
                all.get(i).cloned()
            })
            .collect()
    }
    Tenant {
        id: t.id.clone(),
        default_caller_id: t.default_caller_id.clone(),
        emergency_numbers: t.emergency_numbers.clone(),
        sites: same(&t.sites, &before.sites, &[], |x| &x.id),
        numbers: same(&t.numbers, &before.numbers, &[], |x| &x.number),
        extensions: same(&t.extensions, &before.extensions, extensions, |x| &x.ext),
        queues: same(&t.queues, &before.queues, &[], |x| &x.id),
        roles: same(&t.roles, &before.roles, &[], |x| &x.id),
        feature_codes: same(&t.feature_codes, &before.feature_codes, &[], |x| &x.code),
        users: same(&t.users, &before.users, users, |x| &x.id),
    }
}
