//! The grant table's one writer, and the changes it publishes.
//!
//! The store follower ([`crate::store::follow`]) is the only thing that changes the daemon's
//! table, and it does it through a [`Writer`]. Each put or removal goes into the table and,
//! in the same step, to every subscriber (the replica feed's hub) as an [`Applied`] change,
//! with what a replica needs to rebuild the tenant: the directory JSON it was last compiled
//! whole from, and the splices applied since ([`Source`]). The engine keeps neither; the
//! writer keeps each tenant's source for whoever subscribes later (a new replica's snapshot);
//! a daemon with no feed makes one that keeps none ([`Writer::without_sources`]), and saves
//! encoding and holding every tenant's JSON (≈190 MiB at 1,000,000 users).
//!
//! A subscriber gets a consistent start ([`Subscription`]: every tenant as of one revision,
//! taken under the lock every write holds) and then every change after it, in order, on a
//! bounded queue. The writer never waits for a subscriber: one that falls a whole queue
//! behind is let go (its queue closes once it has read what is in it) and subscribes again,
//! from a fresh start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use callgate::edit::Splice;
use callgate::model::Tenant;
use callgate::{CompiledTenant, Table};
use serde_json::value::RawValue;
use smol_str::SmolStr;
use tokio::sync::mpsc;

/// What a replica needs to rebuild a tenant: the directory JSON it was last compiled whole
/// from, and the splices applied since, in order (the tenant is the JSON with each applied).
/// JSON, not the model: a third of the model's size in memory (at 1,000,000 users, ≈190 MiB
/// against ≈850 MiB).
#[derive(Clone, Debug)]
pub struct Source {
    /// The directory data, as compact JSON.
    pub json: Arc<RawValue>,
    /// The splices applied since.
    pub splices: Arc<[Arc<Splice>]>,
}

impl Source {
    /// No source: JSON `null`, no splices (what a writer that keeps no sources holds).
    pub fn none() -> Source {
        static NULL: std::sync::LazyLock<Arc<RawValue>> =
            std::sync::LazyLock::new(|| Arc::from(RawValue::NULL.to_owned()));
        Source {
            json: Arc::clone(&NULL),
            splices: Arc::new([]),
        }
    }

    /// A tenant as it stands, encoded; no splices.
    pub fn of(tenant: &Tenant) -> Source {
        // The model serializes to JSON whatever it holds (string keys, no custom errors).
        let json =
            serde_json::value::to_raw_value(tenant).unwrap_or_else(|_| RawValue::NULL.to_owned());
        Source {
            json: Arc::from(json),
            splices: Arc::new([]),
        }
    }

    /// This source with `splice` applied after the others.
    fn then(&self, splice: &Arc<Splice>) -> Source {
        Source {
            json: Arc::clone(&self.json),
            splices: self
                .splices
                .iter()
                .cloned()
                .chain([Arc::clone(splice)])
                .collect(),
        }
    }
}

/// A tenant as the writer put it in the table, with its source.
#[derive(Clone)]
pub struct Published {
    /// The compiled tenant, as the table holds it.
    pub tenant: Arc<CompiledTenant>,
    /// What it was compiled from.
    pub source: Source,
}

/// One change the writer applied, as its subscribers hear of it (in the order applied, once
/// the table shows it).
#[derive(Clone)]
pub enum Applied {
    /// A tenant put (added, replaced or patched) at its revision.
    Put(Published),
    /// The tenant with this id removed, at this revision.
    Removed(Box<str>, u64),
    /// Only the table's revision raised, to this.
    Revision(u64),
}

/// Where a subscriber starts: every tenant as of `revision`, then every change after it.
pub struct Subscription {
    /// The table's revision when the subscription was taken.
    pub revision: u64,
    /// Every tenant then.
    pub tenants: Vec<Published>,
    /// Every change since, in order. Closes when the subscriber falls a whole queue behind:
    /// subscribe again then.
    pub changes: mpsc::Receiver<Applied>,
}

/// Why a patched tenant was not put: the writer does not hold the tenant it was patched
/// from (put it whole instead).
#[derive(Debug, thiserror::Error)]
#[error("tenant `{0}` was patched from a tenant the table does not hold")]
pub struct NotPatched(pub SmolStr);

/// The table's one writer (see the module documentation).
pub struct Writer {
    table: Arc<Table>,
    /// Whether it keeps each tenant's [`Source`] (for the feed).
    sources: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Every tenant in the table, with its source.
    published: HashMap<SmolStr, Published>,
    subscribers: Vec<mpsc::Sender<Applied>>,
}

impl Default for Writer {
    fn default() -> Writer {
        Writer::new()
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("table", &self.table)
            .finish()
    }
}

impl Writer {
    /// A writer of a new, empty table (every tenant the table ever holds goes through it),
    /// keeping each tenant's source for the feed.
    pub fn new() -> Writer {
        Writer {
            table: Arc::new(Table::new()),
            sources: true,
            state: Mutex::new(State::default()),
        }
    }

    /// A writer that keeps no sources, for a daemon with no feed: nothing may subscribe.
    pub fn without_sources() -> Writer {
        Writer {
            sources: false,
            ..Writer::new()
        }
    }

    /// What a replica rebuilds `tenant` from, if this writer keeps sources; else
    /// [`Source::none`] (and nothing is encoded).
    pub fn source_of(&self, tenant: &Tenant) -> Source {
        if self.sources {
            Source::of(tenant)
        } else {
            Source::none()
        }
    }

    /// A writer of a table holding `tenants` at `revision` (tests and benches).
    pub fn with_tenants(tenants: &[Tenant], revision: u64) -> Writer {
        let writer = Writer::new();
        writer.replace_all(tenants, revision);
        writer
    }

    /// The table it writes: read it freely, write it only through the writer.
    pub fn table(&self) -> &Arc<Table> {
        &self.table
    }

    /// Compiles `tenant` whole and puts it, at `revision`.
    pub fn put(&self, tenant: &Tenant, revision: u64) {
        self.put_compiled(
            CompiledTenant::compile(tenant, revision),
            self.source_of(tenant),
        );
    }

    /// Puts a tenant compiled whole (outside any lock) from what `source` encodes.
    pub fn put_compiled(&self, tenant: CompiledTenant, source: Source) {
        self.publish(Published {
            tenant: Arc::new(tenant),
            source,
        });
    }

    /// Puts a tenant patched with a splice ([`CompiledTenant::spliced`]) from the one the
    /// table holds; its source is that one's with the splice after.
    pub fn put_patched(&self, tenant: CompiledTenant) -> Result<(), NotPatched> {
        let mut state = self.lock();
        let source = tenant.delta.as_ref().and_then(|d| {
            let base = state.published.get(&tenant.id)?;
            (base.tenant.generation == d.base).then(|| {
                if self.sources {
                    base.source.then(&d.splice)
                } else {
                    Source::none()
                }
            })
        });
        let Some(source) = source else {
            return Err(NotPatched(tenant.id));
        };
        let published = Published {
            tenant: Arc::new(tenant),
            source,
        };
        state.put(&self.table, published);
        Ok(())
    }

    /// Removes a tenant at `revision`.
    pub fn remove(&self, id: &str, revision: u64) {
        let mut state = self.lock();
        self.table.remove(id, revision);
        state.published.remove(id);
        state.send(&Applied::Removed(id.into(), revision));
    }

    /// Raises the table's revision to `revision`.
    pub fn advance(&self, revision: u64) {
        let state = &mut self.lock();
        self.table.advance(revision);
        state.send(&Applied::Revision(revision));
    }

    /// Puts `tenants` in place of every tenant the table holds, at `revision`.
    pub fn replace_all(&self, tenants: &[Tenant], revision: u64) {
        let keep: std::collections::HashSet<&str> = tenants.iter().map(|t| t.id.as_str()).collect();
        let gone: Vec<String> = self
            .table
            .tenant_ids()
            .into_iter()
            .filter(|id| !keep.contains(id.as_str()))
            .collect();
        for id in gone {
            self.remove(&id, revision);
        }
        for t in tenants {
            self.put(t, revision);
        }
        self.advance(revision);
    }

    /// A tenant as the table holds it, with its source.
    pub fn published(&self, id: &str) -> Option<Published> {
        self.lock().published.get(id).cloned()
    }

    /// Every tenant as of now, then every change after, on a queue of `capacity` changes.
    /// `None` from a writer that keeps no sources (a subscriber could rebuild nothing).
    pub fn subscribe(&self, capacity: usize) -> Option<Subscription> {
        if !self.sources {
            return None;
        }
        let (tx, changes) = mpsc::channel(capacity.max(1));
        let mut state = self.lock();
        state.subscribers.push(tx);
        Some(Subscription {
            revision: self.table.revision(),
            tenants: state.published.values().cloned().collect(),
            changes,
        })
    }

    fn publish(&self, published: Published) {
        self.lock().put(&self.table, published);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn put(&mut self, table: &Table, published: Published) {
        table.put_shared(Arc::clone(&published.tenant));
        self.published
            .insert(published.tenant.id.clone(), published.clone());
        self.send(&Applied::Put(published));
    }

    /// Offers a change to every subscriber; lets go of those whose queue is full (or gone).
    fn send(&mut self, change: &Applied) {
        self.subscribers
            .retain(|s| s.try_send(change.clone()).is_ok());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed step is a failed test")]

    use super::*;

    fn tenant(id: &str) -> Tenant {
        callgate::directory::parse(&format!("tenants:\n  - id: {id}\n"))
            .unwrap()
            .remove(0)
    }

    fn what(change: &Applied) -> String {
        match change {
            Applied::Put(p) => format!("put {}@{}", p.tenant.id, p.tenant.revision),
            Applied::Removed(id, r) => format!("removed {id}@{r}"),
            Applied::Revision(r) => format!("revision {r}"),
        }
    }

    /// A subscriber hears of every change after its start, in order, and the table shows
    /// each change when it is heard of.
    #[test]
    fn a_subscriber_gets_a_start_then_every_change_in_order() {
        let writer = Writer::with_tenants(&[tenant("acme")], 4);
        let mut sub = writer.subscribe(16).unwrap();
        assert_eq!(sub.revision, 4);
        let ids: Vec<&str> = sub.tenants.iter().map(|p| &*p.tenant.id).collect();
        assert_eq!(ids, ["acme"]);
        writer.put(&tenant("globex"), 5);
        writer.remove("acme", 6);
        writer.advance(8);
        let mut told = Vec::new();
        while let Ok(change) = sub.changes.try_recv() {
            told.push(what(&change));
        }
        assert_eq!(told, ["put globex@5", "removed acme@6", "revision 8"]);
        assert_eq!(writer.table().revision(), 8);
        assert!(writer.table().tenant("acme").is_none());
        assert!(writer.published("acme").is_none());
    }

    /// A subscriber a whole queue behind is let go: its queue ends after what it holds, and
    /// a new subscription starts from where the table is.
    #[test]
    fn a_subscriber_that_falls_behind_is_let_go_and_starts_again() {
        let writer = Writer::new();
        let mut sub = writer.subscribe(2).unwrap();
        for (i, id) in ["a", "b", "c", "d"].into_iter().enumerate() {
            writer.put(&tenant(id), i as u64 + 1);
        }
        let mut told = Vec::new();
        while let Some(change) = sub.changes.blocking_recv() {
            told.push(what(&change));
        }
        assert_eq!(told, ["put a@1", "put b@2"]);
        let again = writer.subscribe(2).unwrap();
        assert_eq!(again.revision, 4);
        let mut ids: Vec<&str> = again.tenants.iter().map(|p| &*p.tenant.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["a", "b", "c", "d"]);
    }

    /// A writer for a daemon with no feed encodes nothing, keeps no JSON, and cannot be
    /// subscribed to; its table is written all the same.
    #[test]
    fn a_writer_without_sources_keeps_none_and_feeds_nobody() {
        let writer = Writer::without_sources();
        writer.put(&tenant("acme"), 3);
        assert_eq!(writer.table().revision(), 3);
        assert!(writer.table().tenant("acme").is_some());
        let p = writer.published("acme").unwrap();
        assert_eq!(p.source.json.get(), "null");
        assert!(writer.subscribe(4).is_none());
        assert!(Writer::new().subscribe(4).is_some());
    }

    /// A patched tenant's source is its base's with the splice after; a patch made to a
    /// tenant the table no longer holds is refused.
    #[test]
    fn a_patch_extends_its_bases_source() {
        let yaml = "tenants:\n  - id: acme\n    users:\n      - {id: bob, role: basic_user}\n";
        let before = callgate::directory::parse(yaml).unwrap().remove(0);
        let mut after = before.clone();
        after.users[0].status = Some("suspended".into());
        let splice = Arc::new(callgate::edit::Splice::between(&before, &after));
        let writer = Writer::new();
        writer.put(&before, 1);
        let base = writer.table().tenant("acme").unwrap();
        let patched = base.spliced(&splice, 2).unwrap();
        writer.put_patched(patched).unwrap();
        let p = writer.published("acme").unwrap();
        assert_eq!(p.source.splices.len(), 1);
        assert_eq!(p.tenant.patches, 1);
        assert_eq!(p.source.json.get(), Source::of(&before).json.get());
        // The same patch again: its base is gone.
        assert!(
            writer
                .put_patched(base.spliced(&splice, 3).unwrap())
                .is_err()
        );
    }
}
