//! The grant table: every tenant compiled into flat, index-linked arrays, behind a DashMap.
//!
//! A check is a tenant lookup (one DashMap shard read), a user lookup and at most a couple of
//! resource lookups (hash tables keyed by `&str` or by the number's integer), then bit tests
//! and scans of a few `u32`s. Nothing on that path allocates. A change to a tenant compiles
//! the tenant anew and swaps it in whole, so a check always sees one consistent revision of
//! a tenant.

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::dial::{self, EmergencySet, Target};

use dashmap::DashMap;
use hashbrown::HashTable;
use serde_json::value::RawValue;

use crate::catalog::{self, Action, Category, FEATURE_TOGGLES, Matrix, REPORTING, RoleId, Scope};
use crate::edit::Splice;
use crate::feature::{DEFAULT_CODES, FeatureKind};
use crate::model::Tenant;
use crate::number::E164;

type Hasher = foldhash::fast::RandomState;

/// How many platform-wide emergency numbers a table holds at most.
pub const MAX_PLATFORM_EMERGENCY: usize = 32;

/// How many shards the tenant map has. A check takes its shard's read lock, an atomic on a
/// cache line of its own; with many shards, threads checking different tenants seldom share
/// one (DashMap's default, four per core, is 8 on a 2-core machine).
const SHARDS: usize = 256;

/// The live grant table: compiled tenants by id, and the revision they are at.
pub struct Table {
    tenants: DashMap<Box<str>, Arc<CompiledTenant>, Hasher>,
    revision: AtomicU64,
    /// The platform-wide emergency numbers ([`dial::key`]s; 0 ends the list), honoured for
    /// every tenant, known or not. Atomics, so a check reads them without a lock.
    platform_emergency: [AtomicU64; MAX_PLATFORM_EMERGENCY],
    /// The largest of `platform_emergency`: a key with more digits is always larger, so an
    /// ordinary number (longer than any emergency number) is ruled out by one comparison.
    platform_emergency_max: AtomicU64,
    /// Called after every change ([`Table::on_change`]); each says whether to keep it.
    watchers: Mutex<Vec<Watcher>>,
}

/// A function told of every change to a table; it returns whether it still wants to be.
type Watcher = Box<dyn Fn(&TableChange<'_>) -> bool + Send + Sync>;

/// A change to a table, as its watchers ([`Table::on_change`]) hear of it once it is
/// visible: what changed, so a follower (the daemon's feed) need not look at the rest.
pub enum TableChange<'a> {
    /// This tenant was put (added, replaced or patched) at its revision.
    Put(&'a Arc<CompiledTenant>),
    /// The tenant with this id was removed, at this revision.
    Removed(&'a str, u64),
    /// Every tenant was replaced at this revision ([`Table::replace_all`]): look at them all.
    Replaced(u64),
    /// Only the revision was raised, to this.
    Revision(u64),
}

impl Default for Table {
    fn default() -> Table {
        let table = Table {
            tenants: DashMap::with_hasher_and_shard_amount(Hasher::default(), SHARDS),
            revision: AtomicU64::new(0),
            platform_emergency: std::array::from_fn(|_| AtomicU64::new(0)),
            platform_emergency_max: AtomicU64::new(u64::MAX),
            watchers: Mutex::new(Vec::new()),
        };
        table.store_platform_emergency(&EmergencySet::lenient(dial::DEFAULT_EMERGENCY));
        table
    }
}

/// Why a platform emergency list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmergencyListError {
    /// An entry isn't 1 to 16 dial characters.
    #[error("invalid emergency number `{0}` (1 to 16 digits, `*` or `#`)")]
    Invalid(String),
    /// More entries than the table holds.
    #[error("at most {MAX_PLATFORM_EMERGENCY} platform emergency numbers")]
    TooMany,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("tenants", &self.tenants.len())
            .field("revision", &self.revision())
            .finish()
    }
}

impl Table {
    /// An empty table at revision 0.
    pub fn new() -> Table {
        Table::default()
    }

    /// The revision every answer is decided at: the latest change the table has applied.
    #[inline]
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    /// Sets the platform-wide emergency numbers (they replace [`dial::DEFAULT_EMERGENCY`]).
    /// Honoured for every tenant, known or not, on top of each tenant's own list.
    pub fn set_platform_emergency<'a>(
        &self,
        numbers: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), EmergencyListError> {
        let set = EmergencySet::new(numbers).map_err(EmergencyListError::Invalid)?;
        if set.keys().len() > MAX_PLATFORM_EMERGENCY {
            return Err(EmergencyListError::TooMany);
        }
        self.store_platform_emergency(&set);
        Ok(())
    }

    fn store_platform_emergency(&self, set: &EmergencySet) {
        // While the slots change, the bound lets every key through to them, so a check that
        // races the change still sees each number that is in both the old and the new list.
        self.platform_emergency_max
            .store(u64::MAX, Ordering::SeqCst);
        let mut keys = set.keys().iter();
        for slot in &self.platform_emergency {
            slot.store(keys.next().copied().unwrap_or(0), Ordering::SeqCst);
        }
        let max = set.keys().iter().copied().max().unwrap_or(0);
        self.platform_emergency_max.store(max, Ordering::SeqCst);
    }

    /// The platform-wide emergency numbers, as dial strings.
    pub fn platform_emergency(&self) -> Vec<String> {
        self.platform_emergency
            .iter()
            .map(|k| k.load(Ordering::Acquire))
            .take_while(|&k| k != 0)
            .map(dial::unpack)
            .collect()
    }

    #[inline]
    fn is_platform_emergency(&self, key: u64) -> bool {
        if key > self.platform_emergency_max.load(Ordering::Acquire) {
            return false;
        }
        for slot in &self.platform_emergency {
            match slot.load(Ordering::Relaxed) {
                0 => return false,
                k if k == key => return true,
                _ => {}
            }
        }
        false
    }

    /// Whether `dialed` — any spelling: digits, `sip:`/`tel:` URI, `urn:service:sos…` —
    /// reaches emergency services for `tenant`: the platform's numbers, the tenant's own,
    /// or an SOS URN. True for a tenant the table doesn't know too, by the platform list.
    pub fn is_emergency(&self, tenant: &str, dialed: &str) -> bool {
        self.is_emergency_target(dial::target(dialed), |k| {
            self.with_tenant(tenant, |t| t.emergency.contains(k))
                .unwrap_or(false)
        })
    }

    /// Whether a reduced dial string is an emergency target, given the tenant's own list.
    #[inline]
    pub(crate) fn is_emergency_target(
        &self,
        target: Target,
        in_tenant_list: impl FnOnce(u64) -> bool,
    ) -> bool {
        match target {
            Target::Sos => true,
            Target::Other => false,
            Target::Digits(k) => self.is_platform_emergency(k) || in_tenant_list(k),
        }
    }

    /// Raises the revision to `revision` (never lowers it), then tells the watchers.
    pub fn advance(&self, revision: u64) {
        self.revision.fetch_max(revision, Ordering::AcqRel);
        self.changed(&TableChange::Revision(revision));
    }

    /// Calls `watcher` with every change to the table (a tenant put or removed, the revision
    /// raised), once the change is visible, until it returns `false`. It runs on the writer's
    /// thread, so it should only pass the change on (e.g. to a channel); it must not call back
    /// into the table's writers.
    ///
    /// This is how the daemon's feed follows the table without polling or diffing it, while
    /// the engine stays free of any async runtime.
    pub fn on_change(&self, watcher: impl Fn(&TableChange<'_>) -> bool + Send + Sync + 'static) {
        self.watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(watcher));
    }

    fn changed(&self, change: &TableChange<'_>) {
        self.watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|w| w(change));
    }

    /// Compiles `tenant` and puts it in place of any tenant with the same id, then raises the
    /// table's revision to `revision`.
    pub fn put(&self, tenant: &Tenant, revision: u64) {
        let compiled = CompiledTenant::compile(tenant, revision);
        self.put_compiled(compiled);
    }

    /// Puts an already compiled tenant in place (compile outside any lock, swap inside).
    pub fn put_compiled(&self, tenant: CompiledTenant) {
        let tenant = Arc::new(tenant);
        self.tenants.insert(tenant.id.clone(), Arc::clone(&tenant));
        self.revision.fetch_max(tenant.revision, Ordering::AcqRel);
        self.changed(&TableChange::Put(&tenant));
    }

    /// Removes a tenant, then raises the revision.
    pub fn remove(&self, tenant: &str, revision: u64) {
        self.tenants.remove(tenant);
        self.revision.fetch_max(revision, Ordering::AcqRel);
        self.changed(&TableChange::Removed(tenant, revision));
    }

    /// Replaces the whole table with `tenants` at `revision` (a snapshot).
    pub fn replace_all<'a>(&self, tenants: impl IntoIterator<Item = &'a Tenant>, revision: u64) {
        let compiled: Vec<CompiledTenant> = tenants
            .into_iter()
            .map(|t| CompiledTenant::compile(t, revision))
            .collect();
        let keep: std::collections::HashSet<&str> = compiled.iter().map(|t| &*t.id).collect();
        self.tenants.retain(|id, _| keep.contains(&**id));
        for t in compiled {
            self.tenants.insert(t.id.clone(), Arc::new(t));
        }
        self.revision.fetch_max(revision, Ordering::AcqRel);
        self.changed(&TableChange::Replaced(revision));
    }

    /// Runs `f` on a tenant while holding its shard's read lock (no reference count touched).
    /// A tenant id is a lowercase slug; a From host spelled otherwise (`ACME`, `acme.`) finds
    /// the same tenant.
    #[inline]
    pub fn with_tenant<R>(&self, tenant: &str, f: impl FnOnce(&CompiledTenant) -> R) -> Option<R> {
        let t = match self.tenants.get(tenant) {
            Some(t) => t,
            None => self.tenants.get(canonical_tenant(tenant)?.as_str())?,
        };
        Some(f(&t))
    }

    /// A tenant, shared.
    pub fn tenant(&self, tenant: &str) -> Option<Arc<CompiledTenant>> {
        self.tenants.get(tenant).map(|t| Arc::clone(&t))
    }

    /// Every tenant, shared, with the revision read before them: each tenant is at that
    /// revision or later (a consistent base for a replica to follow changes from).
    pub fn snapshot(&self) -> (u64, Vec<Arc<CompiledTenant>>) {
        let revision = self.revision();
        (
            revision,
            self.tenants.iter().map(|t| Arc::clone(t.value())).collect(),
        )
    }

    /// How many tenants are loaded.
    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// The ids of every loaded tenant.
    pub fn tenant_ids(&self) -> Vec<String> {
        self.tenants.iter().map(|t| t.key().to_string()).collect()
    }
}

/// Something stored in an [`Index`], found by a key it carries.
pub trait Keyed {
    /// The key's borrowed form.
    type Key: ?Sized + Hash + Eq;
    /// The item's key.
    fn key(&self) -> &Self::Key;
}

/// Items in a `Vec`, found by key through a hash table of their positions: each key is
/// stored once (in the item), and a lookup by `&str` allocates nothing.
#[derive(Clone)]
pub struct Index<T> {
    items: Vec<T>,
    slots: HashTable<u32>,
    hasher: Hasher,
}

impl<T: Keyed> Index<T> {
    fn with_capacity(n: usize) -> Index<T> {
        Index {
            items: Vec::with_capacity(n),
            slots: HashTable::with_capacity(n),
            hasher: Hasher::default(),
        }
    }

    /// Adds an item; returns its position, or the existing one's if the key is taken.
    fn push(&mut self, item: T) -> u32 {
        let hash = self.hasher.hash_one(item.key());
        let items = &self.items;
        if let Some(&i) = self.slots.find(hash, |&i| {
            items.get(i as usize).is_some_and(|x| x.key() == item.key())
        }) {
            return i;
        }
        let i = u32::try_from(self.items.len()).unwrap_or(u32::MAX);
        self.items.push(item);
        let (items, hasher) = (&self.items, &self.hasher);
        self.slots.insert_unique(hash, i, |&j| {
            items
                .get(j as usize)
                .map_or(0, |x| hasher.hash_one(x.key()))
        });
        i
    }

    /// Stops finding the item with `key` (it keeps its position, so nothing that points at
    /// another item moves); its position, if there was one.
    fn forget(&mut self, key: &T::Key) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        let items = &self.items;
        let entry = self
            .slots
            .find_entry(hash, |&i| {
                items.get(i as usize).is_some_and(|x| x.key() == key)
            })
            .ok()?;
        let (i, _) = entry.remove();
        Some(i)
    }

    /// The item at position `i`, to change in place (its key must stay the same).
    fn at_mut(&mut self, i: u32) -> Option<&mut T> {
        self.items.get_mut(i as usize)
    }

    /// The position of the item with `key`.
    #[inline]
    pub fn find(&self, key: &T::Key) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        self.slots
            .find(hash, |&i| {
                self.items.get(i as usize).is_some_and(|x| x.key() == key)
            })
            .copied()
    }

    /// The item with `key`, and its position.
    #[inline]
    pub fn get(&self, key: &T::Key) -> Option<(u32, &T)> {
        let i = self.find(key)?;
        self.items.get(i as usize).map(|x| (i, x))
    }

    /// The item at a position.
    #[inline]
    pub fn at(&self, i: u32) -> Option<&T> {
        self.items.get(i as usize)
    }

    /// Every item, by position.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.items.iter().enumerate().map(|(i, x)| (i as u32, x))
    }

    /// How many items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A site.
#[derive(Clone)]
pub struct SiteEntry {
    /// Its id.
    pub id: Box<str>,
    /// Its emergency callback number (the smallest flagged one).
    pub emergency_callback: Option<u32>,
}

/// A DID.
#[derive(Clone)]
pub struct NumberEntry {
    /// The number.
    pub number: E164,
    /// Its site.
    pub site: Option<u32>,
    /// The extension it is routed to.
    pub ext: Option<u32>,
}

/// An extension.
#[derive(Clone)]
pub struct ExtEntry {
    /// Its dial string, shared so answers can carry it without allocating.
    pub ext: Arc<str>,
    /// Its site.
    pub site: Option<u32>,
    /// Its owner.
    pub owner: Option<u32>,
    /// The smallest DID routed to it.
    pub did: Option<u32>,
}

/// A queue.
#[derive(Clone)]
pub struct QueueEntry {
    /// Its id, shared so answers can carry it without allocating.
    pub id: Arc<str>,
    /// Its dial string.
    pub number: Option<Box<str>>,
    /// Its site.
    pub site: Option<u32>,
    /// Its agents (user positions, sorted).
    pub agents: Box<[u32]>,
    /// Its supervisors (user positions, sorted).
    pub supervisors: Box<[u32]>,
}

/// A custom role, compiled.
#[derive(Clone)]
pub struct RoleEntry {
    /// Its id.
    pub id: Box<str>,
    /// What it is for.
    pub description: Option<Box<str>>,
    /// Its matrix.
    pub matrix: Matrix,
    /// Its scope.
    pub scope: Scope,
}

/// Where a user's scope reaches, as bits; see [`CompiledTenant::reach`].
pub type Reach = u8;
/// Every resource of the tenant.
pub const REACH_TENANT: Reach = 1;
/// Resources at the user's site.
pub const REACH_SITE: Reach = 2;
/// The user's own extensions and their DIDs.
pub const REACH_OWN: Reach = 4;
/// The extensions, queues and numbers in the user's grants.
pub const REACH_GRANTED: Reach = 8;
/// The queues the user supervises.
pub const REACH_SUPERVISED: Reach = 16;
/// The queues the user is an agent of (a role's `member` permissions reach these).
pub const REACH_MEMBER: Reach = 32;

/// What a scope reaches.
pub const fn reach_of(scope: Scope) -> Reach {
    match scope {
        Scope::Tenant => REACH_TENANT,
        Scope::Site => REACH_SITE | REACH_OWN,
        Scope::Assigned => REACH_OWN | REACH_GRANTED | REACH_SUPERVISED,
        Scope::Own => REACH_OWN,
        Scope::None => 0,
    }
}

/// A user, compiled: their role, and every set they take part in as sorted positions.
#[derive(Clone)]
pub struct UserEntry {
    /// Their id (shared: a patched tenant copies users by reference count, not by value).
    pub id: Arc<str>,
    /// Their built-in role.
    pub role: RoleId,
    /// Their custom role's position.
    pub custom_role: Option<u32>,
    /// Their site.
    pub site: Option<u32>,
    /// Whether they may act at all.
    pub active: bool,
    /// `full_call_report_access`.
    pub full_report: bool,
    /// Feature toggles switched on, by index in [`FEATURE_TOGGLES`].
    pub features: u16,
    /// Their default caller ID's position.
    pub default_caller_id: Option<u32>,
    /// The six sets, back to back: own extensions, queues they are an agent of, queues they
    /// supervise, granted extensions, granted queues, granted numbers.
    sets: Arc<[u32]>,
    ends: [u32; 6],
}

const OWN_EXTS: usize = 0;
const AGENT_OF: usize = 1;
const SUPERVISES: usize = 2;
const GRANTED_EXTS: usize = 3;
const GRANTED_QUEUES: usize = 4;
const GRANTED_NUMBERS: usize = 5;

impl UserEntry {
    /// The same user with these six sets (each sorted).
    fn with_sets(mut self, parts: &[Vec<u32>; 6]) -> UserEntry {
        let mut ends = [0u32; 6];
        let mut all = Vec::with_capacity(parts.iter().map(Vec::len).sum());
        for (end, part) in ends.iter_mut().zip(parts) {
            all.extend_from_slice(part);
            *end = u32::try_from(all.len()).unwrap_or(u32::MAX);
        }
        self.sets = all.into();
        self.ends = ends;
        self
    }

    /// Its six sets, copied.
    fn sets(&self) -> [Vec<u32>; 6] {
        std::array::from_fn(|i| self.set(i).to_vec())
    }

    fn set(&self, which: usize) -> &[u32] {
        let start = match which.checked_sub(1) {
            Some(prev) => self.ends.get(prev).copied().unwrap_or(0),
            None => 0,
        };
        let end = self.ends.get(which).copied().unwrap_or(0);
        self.sets.get(start as usize..end as usize).unwrap_or(&[])
    }

    /// Positions of the extensions they own.
    pub fn own_exts(&self) -> &[u32] {
        self.set(OWN_EXTS)
    }
    /// Positions of the queues they are an agent of.
    pub fn agent_of(&self) -> &[u32] {
        self.set(AGENT_OF)
    }
    /// Positions of the queues they supervise.
    pub fn supervises(&self) -> &[u32] {
        self.set(SUPERVISES)
    }
    /// Positions of granted extensions.
    pub fn granted_exts(&self) -> &[u32] {
        self.set(GRANTED_EXTS)
    }
    /// Positions of granted queues.
    pub fn granted_queues(&self) -> &[u32] {
        self.set(GRANTED_QUEUES)
    }
    /// Positions of granted numbers.
    pub fn granted_numbers(&self) -> &[u32] {
        self.set(GRANTED_NUMBERS)
    }
    /// Whether they have any extension, queue or number grant.
    pub fn has_resource_grants(&self) -> bool {
        !(self.granted_exts().is_empty()
            && self.granted_queues().is_empty()
            && self.granted_numbers().is_empty())
    }
}

impl Keyed for SiteEntry {
    type Key = str;
    fn key(&self) -> &str {
        &self.id
    }
}
impl Keyed for ExtEntry {
    type Key = str;
    fn key(&self) -> &str {
        &self.ext
    }
}
impl Keyed for QueueEntry {
    type Key = str;
    fn key(&self) -> &str {
        &self.id
    }
}
impl Keyed for RoleEntry {
    type Key = str;
    fn key(&self) -> &str {
        &self.id
    }
}
impl Keyed for UserEntry {
    type Key = str;
    fn key(&self) -> &str {
        &self.id
    }
}
impl Keyed for NumberEntry {
    type Key = u64;
    fn key(&self) -> &u64 {
        // `E164` is a plain u64 inside; keyed by value so lookups need no text.
        self.number_value()
    }
}
impl NumberEntry {
    fn number_value(&self) -> &u64 {
        self.number.as_u64_ref()
    }
}

/// A built-in or custom role, as a feature code's allowlist names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleRef {
    /// A built-in role.
    Builtin(RoleId),
    /// A custom role's position.
    Custom(u32),
}

/// One entry of a tenant's compiled feature-code table.
#[derive(Clone)]
pub struct CodeEntry {
    /// The dial prefix.
    pub code: Box<str>,
    /// What it does.
    pub feature: FeatureKind,
    /// Who may use it; `None` = anyone its rule lets.
    pub roles: Option<Box<[RoleRef]>>,
}

/// The parts of a compiled tenant a user entry points into.
struct Refs<'a> {
    sites: &'a Index<SiteEntry>,
    exts: &'a Index<ExtEntry>,
    queues: &'a Index<QueueEntry>,
    numbers: &'a Index<NumberEntry>,
    roles: &'a Index<RoleEntry>,
}

impl Refs<'_> {
    /// `u` compiled, with the sets that come from elsewhere in the tenant: the extensions
    /// they own, the queues they are an agent of, the queues they supervise (positions).
    fn user(&self, u: &crate::model::User, derived: [Vec<u32>; 3]) -> UserEntry {
        let number = |text: &str| {
            E164::parse(text)
                .ok()
                .and_then(|n| self.numbers.find(&n.value()))
        };
        let [own, agent, supervise] = derived;
        let parts: [Vec<u32>; 6] = [
            sorted_vec(own),
            sorted_vec(agent),
            sorted_vec(supervise),
            sorted_vec(
                u.grants
                    .extensions
                    .iter()
                    .filter_map(|e| self.exts.find(e))
                    .collect(),
            ),
            sorted_vec(
                u.grants
                    .queues
                    .iter()
                    .filter_map(|q| self.queues.find(q))
                    .collect(),
            ),
            sorted_vec(u.grants.numbers.iter().filter_map(|n| number(n)).collect()),
        ];
        let features = u
            .grants
            .features
            .iter()
            .filter_map(|f| catalog::feature_toggle(f))
            .fold(0u16, |m, i| m | (1 << i));
        UserEntry {
            id: u.id.as_str().into(),
            role: RoleId::by_name(&u.role).unwrap_or(RoleId::NOBODY),
            custom_role: u.custom_role.as_deref().and_then(|r| self.roles.find(r)),
            site: u.site.as_deref().and_then(|s| self.sites.find(s)),
            active: u.status.as_deref() != Some("suspended"),
            full_report: u.grants.full_call_report_access,
            features,
            default_caller_id: u.default_caller_id.as_deref().and_then(number),
            sets: Arc::new([]),
            ends: [0; 6],
        }
        .with_sets(&parts)
    }
}

/// A tenant, compiled for checks.
pub struct CompiledTenant {
    /// Its id.
    pub id: Box<str>,
    /// The directory data it was compiled from, as compact JSON: what a replica feed sends,
    /// as is. JSON, not the model: a third of the model's size in memory (at 1,000,000
    /// users, ≈190 MiB against ≈850 MiB).
    pub source: Arc<RawValue>,
    /// The revision it was compiled at.
    pub revision: u64,
    /// Its default caller ID's position.
    pub default_caller_id: Option<u32>,
    /// The tenant's own emergency dial strings (the platform's are the table's).
    pub emergency: EmergencySet,
    /// Sites.
    pub sites: Index<SiteEntry>,
    /// Numbers, keyed by their value.
    pub numbers: Index<NumberEntry>,
    /// Extensions.
    pub exts: Index<ExtEntry>,
    /// Queues by id.
    pub queues: Index<QueueEntry>,
    /// Queue positions by dial string.
    queue_numbers: hashbrown::HashMap<Box<str>, u32, Hasher>,
    /// Custom roles.
    pub roles: Index<RoleEntry>,
    /// Users. A user a splice removed keeps their position (nothing points at it) but is
    /// no longer found by id.
    pub users: Index<UserEntry>,
    /// Feature codes, longest code first.
    pub codes: Arc<[CodeEntry]>,
    /// The splices applied since `source` was encoded, in order: the tenant is `source` with
    /// each applied ([`Splice::apply_to`]). Empty for a tenant compiled whole.
    pub splices: Arc<[Arc<Splice>]>,
    /// Unique to this compiled tenant within the process.
    pub generation: u64,
    /// The one change that made it from the compiled tenant of generation `base`, if it is
    /// known (the replica feed then sends that change instead of the tenant).
    pub delta: Option<Delta>,
}

/// How a compiled tenant differs from the one it replaced.
#[derive(Clone, Debug)]
pub struct Delta {
    /// The generation of the compiled tenant it replaced.
    pub base: u64,
    /// What changed.
    pub splice: Arc<Splice>,
}

/// The next [`CompiledTenant::generation`].
fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl CompiledTenant {
    /// Compiles a validated tenant. Total: dangling references (which validation refuses)
    /// are skipped rather than trusted.
    pub fn compile(t: &Tenant, revision: u64) -> CompiledTenant {
        // The model serializes to JSON whatever it holds (string keys, no custom errors).
        let source =
            serde_json::value::to_raw_value(t).unwrap_or_else(|_| RawValue::NULL.to_owned());
        Self::compile_with_source(t, Arc::from(source), revision)
    }

    /// Compiles a tenant for a table that feeds nobody (a replica): its `source` is JSON
    /// `null`, which saves encoding it.
    pub fn compile_unsourced(t: &Tenant, revision: u64) -> CompiledTenant {
        Self::compile_with_source(t, Arc::from(RawValue::NULL.to_owned()), revision)
    }

    fn compile_with_source(t: &Tenant, source: Arc<RawValue>, revision: u64) -> CompiledTenant {
        let mut sites = Index::with_capacity(t.sites.len());
        for s in &t.sites {
            sites.push(SiteEntry {
                id: s.id.as_str().into(),
                emergency_callback: None,
            });
        }
        let site = |id: &Option<String>| id.as_deref().and_then(|s| sites.find(s));

        // Users first (positions only), so extensions and queues can point at them.
        let mut user_pos = Index::with_capacity(t.users.len());
        for u in &t.users {
            user_pos.push(Placeholder(u.id.as_str().into()));
        }
        let user = |id: &str| user_pos.find(id);

        let mut exts = Index::with_capacity(t.extensions.len());
        for e in &t.extensions {
            exts.push(ExtEntry {
                ext: e.ext.as_str().into(),
                site: site(&e.site),
                owner: e.user.as_deref().and_then(user),
                did: None,
            });
        }

        let mut numbers = Index::with_capacity(t.numbers.len());
        let mut callbacks = Vec::new();
        let mut sorted_numbers: Vec<(E164, &crate::model::Number)> = t
            .numbers
            .iter()
            .filter_map(|n| E164::parse(&n.number).ok().map(|e| (e, n)))
            .collect();
        sorted_numbers.sort_by_key(|(e, _)| *e);
        for (number, n) in &sorted_numbers {
            let ext = n.extension.as_deref().and_then(|e| exts.find(e));
            let pos = numbers.push(NumberEntry {
                number: *number,
                site: site(&n.site),
                ext,
            });
            // Numbers are visited in ascending order: the first one seen is the smallest.
            if let Some(e) = ext.and_then(|e| exts.items.get_mut(e as usize)) {
                e.did.get_or_insert(pos);
            }
            if n.emergency_callback
                && let Some(s) = site(&n.site)
            {
                callbacks.push((s, pos));
            }
        }
        let number = |text: &str| {
            E164::parse(text)
                .ok()
                .and_then(|n| numbers.find(&n.value()))
        };

        let mut queues = Index::with_capacity(t.queues.len());
        let mut queue_numbers = hashbrown::HashMap::with_hasher(Hasher::default());
        for q in &t.queues {
            let pos = queues.push(QueueEntry {
                id: q.id.as_str().into(),
                number: q.number.as_deref().map(Into::into),
                site: site(&q.site),
                agents: sorted(q.agents.iter().filter_map(|a| user(a))),
                supervisors: sorted(q.supervisors.iter().filter_map(|a| user(a))),
            });
            if let Some(n) = &q.number {
                queue_numbers.insert(n.as_str().into(), pos);
            }
        }

        let mut roles = Index::with_capacity(t.roles.len());
        for r in &t.roles {
            let mut matrix = Matrix::EMPTY;
            for (category, actions) in &r.permissions {
                let Ok(category) = category.parse::<Category>() else {
                    continue;
                };
                let set = actions
                    .iter()
                    .filter_map(|a| a.parse::<Action>().ok())
                    .fold(matrix.actions(category), |set, a| set | a.bit());
                matrix = matrix.with(category, set);
            }
            roles.push(RoleEntry {
                id: r.id.as_str().into(),
                description: r.description.as_deref().map(Into::into),
                matrix,
                scope: r
                    .scope
                    .as_deref()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(Scope::Tenant),
            });
        }

        // Queue memberships, per user.
        let mut agent_of: Vec<Vec<u32>> = vec![Vec::new(); user_pos.len()];
        let mut supervises: Vec<Vec<u32>> = vec![Vec::new(); user_pos.len()];
        for (qi, q) in queues.iter() {
            for &a in q.agents.iter() {
                if let Some(v) = agent_of.get_mut(a as usize) {
                    v.push(qi);
                }
            }
            for &s in q.supervisors.iter() {
                if let Some(v) = supervises.get_mut(s as usize) {
                    v.push(qi);
                }
            }
        }
        let mut own_exts: Vec<Vec<u32>> = vec![Vec::new(); user_pos.len()];
        for (ei, e) in exts.iter() {
            if let Some(v) = e.owner.and_then(|o| own_exts.get_mut(o as usize)) {
                v.push(ei);
            }
        }

        let refs = Refs {
            sites: &sites,
            exts: &exts,
            queues: &queues,
            numbers: &numbers,
            roles: &roles,
        };
        let mut users = Index::with_capacity(t.users.len());
        for (ui, u) in t.users.iter().enumerate() {
            let take =
                |v: &mut Vec<Vec<u32>>| v.get_mut(ui).map(std::mem::take).unwrap_or_default();
            let derived = [
                take(&mut own_exts),
                take(&mut agent_of),
                take(&mut supervises),
            ];
            users.push(refs.user(u, derived));
        }

        let mut codes: Vec<CodeEntry> = DEFAULT_CODES
            .iter()
            .filter(|(code, _)| !t.feature_codes.iter().any(|f| f.code == *code))
            .map(|(code, feature)| CodeEntry {
                code: (*code).into(),
                feature: *feature,
                roles: None,
            })
            .collect();
        for f in &t.feature_codes {
            let Ok(feature) = f.feature.parse::<FeatureKind>() else {
                continue;
            };
            let roles = f.roles.as_ref().map(|names| {
                names
                    .iter()
                    .filter_map(|n| match RoleId::by_name(n) {
                        Some(r) => Some(RoleRef::Builtin(r)),
                        None => roles.find(n).map(RoleRef::Custom),
                    })
                    .collect()
            });
            codes.push(CodeEntry {
                code: f.code.as_str().into(),
                feature,
                roles,
            });
        }
        codes.sort_by(|a, b| {
            b.code
                .len()
                .cmp(&a.code.len())
                .then_with(|| a.code.cmp(&b.code))
        });

        let emergency = EmergencySet::lenient(t.emergency_numbers.iter().map(String::as_str));

        // Numbers were visited in ascending order: the first flagged one of a site wins.
        for (s, pos) in callbacks {
            if let Some(s) = sites.items.get_mut(s as usize) {
                s.emergency_callback.get_or_insert(pos);
            }
        }

        CompiledTenant {
            id: t.id.as_str().into(),
            source,
            revision,
            default_caller_id: t.default_caller_id.as_deref().and_then(number),
            emergency,
            sites,
            numbers,
            exts,
            queues,
            queue_numbers,
            roles,
            users,
            codes: codes.into(),
            splices: Arc::new([]),
            generation: next_generation(),
            delta: None,
        }
    }

    /// Whether [`CompiledTenant::spliced`] can apply `splice` to this tenant.
    pub fn can_splice(&self, splice: &Splice) -> bool {
        let (p, r) = (&splice.put, &splice.removed);
        let elsewhere = splice.own_changed
            || !(r.sites.is_empty()
                && r.numbers.is_empty()
                && r.extensions.is_empty()
                && r.queues.is_empty()
                && r.roles.is_empty()
                && r.feature_codes.is_empty())
            || !(p.sites.is_empty()
                && p.numbers.is_empty()
                && p.roles.is_empty()
                && p.feature_codes.is_empty());
        if elsewhere || *p.id != *self.id {
            return false;
        }
        let site = |s: &Option<String>| match s {
            None => Some(None),
            Some(s) => self.sites.find(s).map(Some),
        };
        let ext_same = |e: &crate::model::Extension| {
            self.exts
                .get(&e.ext)
                .is_some_and(|(_, old)| site(&e.site) == Some(old.site))
        };
        let queue_same = |q: &crate::model::Queue| {
            self.queues.get(&q.id).is_some_and(|(_, old)| {
                site(&q.site) == Some(old.site) && q.number.as_deref() == old.number.as_deref()
            })
        };
        p.extensions.iter().all(ext_same) && p.queues.iter().all(queue_same)
    }

    /// This tenant with `splice` applied, at `revision`, built from this one without
    /// compiling the tenant again: only the users, extension owners and queue memberships the
    /// splice names are worked out; every other part is copied as it is (flat arrays and
    /// hash tables of positions: a copy costs a fraction of a compile, and checks keep
    /// reading each part inline, with no pointer more to follow). `None` when the
    /// splice changes anything else (sites, numbers, roles, feature codes, the tenant's own
    /// fields, an extension's site or a queue's number or site, or adds or removes an
    /// extension or queue): compile the whole tenant then.
    ///
    /// Every answer of the result is the answer of [`CompiledTenant::compile`] of the
    /// tenant after the splice (`tests/edits.rs` checks it on generated directories).
    pub fn spliced(&self, splice: &Arc<Splice>, revision: u64) -> Option<CompiledTenant> {
        if !self.can_splice(splice) {
            return None;
        }
        let (p, r) = (&splice.put, &splice.removed);

        // Users first: the removed ones stop being found, new ones get the next positions.
        let mut users = Index::clone(&self.users);
        for id in &r.users {
            users.forget(id);
        }
        let placeholder = |id: &str| UserEntry {
            id: id.into(),
            role: RoleId::NOBODY,
            custom_role: None,
            site: None,
            active: false,
            full_report: false,
            features: 0,
            default_caller_id: None,
            sets: Arc::new([]),
            ends: [0; 6],
        };
        let put_users: Vec<u32> = p
            .users
            .iter()
            .map(|u| match users.find(u.id.as_str()) {
                Some(i) => i,
                None => users.push(placeholder(&u.id)),
            })
            .collect();

        let mut exts = self.exts.clone();
        if !p.extensions.is_empty() {
            for e in &p.extensions {
                let owner = e.user.as_deref().and_then(|u| users.find(u));
                if let Some(entry) = exts.find(e.ext.as_str()).and_then(|i| exts.at_mut(i)) {
                    entry.owner = owner;
                }
            }
        }

        // Queues whose members change, and the users whose memberships that changes.
        let mut queues = self.queues.clone();
        let mut moved: Vec<u32> = Vec::new();
        if !p.queues.is_empty() {
            for q in &p.queues {
                let Some(i) = queues.find(q.id.as_str()) else {
                    continue;
                };
                let agents = sorted(q.agents.iter().filter_map(|a| users.find(a)));
                let supervisors = sorted(q.supervisors.iter().filter_map(|a| users.find(a)));
                if let Some(entry) = queues.at_mut(i) {
                    for (old, new) in [(&entry.agents, &agents), (&entry.supervisors, &supervisors)]
                    {
                        moved.extend(old.iter().filter(|x| new.binary_search(x).is_err()));
                        moved.extend(new.iter().filter(|x| old.binary_search(x).is_err()));
                    }
                    entry.agents = agents;
                    entry.supervisors = supervisors;
                }
            }
        }
        let member_of = |pos: u32| {
            let mut agent = Vec::new();
            let mut supervise = Vec::new();
            for (qi, q) in queues.iter() {
                if q.agents.binary_search(&pos).is_ok() {
                    agent.push(qi);
                }
                if q.supervisors.binary_search(&pos).is_ok() {
                    supervise.push(qi);
                }
            }
            (agent, supervise)
        };

        let refs = Refs {
            sites: &self.sites,
            exts: &exts,
            queues: &queues,
            numbers: &self.numbers,
            roles: &self.roles,
        };
        for (u, &pos) in p.users.iter().zip(&put_users) {
            let own: Vec<u32> = u
                .extensions
                .iter()
                .filter_map(|e| exts.find(e.as_str()))
                .collect();
            let (agent, supervise) = member_of(pos);
            let entry = refs.user(u, [own, agent, supervise]);
            if let Some(slot) = users.at_mut(pos) {
                *slot = entry;
            }
        }
        for pos in moved {
            if put_users.contains(&pos) {
                continue;
            }
            let (agent, supervise) = member_of(pos);
            if let Some(slot) = users.at_mut(pos) {
                let mut sets = slot.sets();
                sets[AGENT_OF] = agent;
                sets[SUPERVISES] = supervise;
                let entry = slot.clone().with_sets(&sets);
                *slot = entry;
            }
        }

        let splices = if self.source.get() == "null" {
            Arc::clone(&self.splices)
        } else {
            self.splices
                .iter()
                .cloned()
                .chain([Arc::clone(splice)])
                .collect()
        };
        Some(CompiledTenant {
            id: self.id.clone(),
            source: Arc::clone(&self.source),
            revision,
            default_caller_id: self.default_caller_id,
            emergency: self.emergency.clone(),
            sites: self.sites.clone(),
            numbers: self.numbers.clone(),
            exts,
            queues,
            queue_numbers: self.queue_numbers.clone(),
            roles: self.roles.clone(),
            users,
            codes: Arc::clone(&self.codes),
            splices,
            generation: next_generation(),
            delta: Some(Delta {
                base: self.generation,
                splice: Arc::clone(splice),
            }),
        })
    }

    /// Whether `dialed` (any spelling) reaches emergency services by this tenant's list or
    /// the default platform list ([`dial::DEFAULT_EMERGENCY`]); a [`Table`] checks its own
    /// platform list instead.
    pub fn is_emergency(&self, dialed: &str) -> bool {
        match dial::target(dialed) {
            Target::Sos => true,
            Target::Other => false,
            Target::Digits(k) => {
                self.emergency.contains(k) || dial::DEFAULT_EMERGENCY_KEYS.contains(&k)
            }
        }
    }

    /// A queue by id, else by its dial string.
    #[inline]
    pub fn queue(&self, key: &str) -> Option<(u32, &QueueEntry)> {
        self.queues.get(key).or_else(|| {
            let i = *self.queue_numbers.get(key)?;
            self.queues.at(i).map(|q| (i, q))
        })
    }

    /// The id of the user who owns extension `ext`.
    #[inline]
    pub fn owner_of(&self, ext: &str) -> Option<&str> {
        let (_, e) = self.exts.get(ext)?;
        self.users.at(e.owner?).map(|u| &*u.id)
    }

    /// A number the tenant owns, by value.
    #[inline]
    pub fn number(&self, number: E164) -> Option<(u32, &NumberEntry)> {
        self.numbers.get(&number.value())
    }

    /// The reach (bits) of every clause that grants `action` on `category` to `user`, and
    /// whether any clause grants it at all (a page-level check needs only that).
    #[inline]
    pub fn reach(&self, user: &UserEntry, category: Category, action: Action) -> (bool, Reach) {
        let mut any = false;
        let mut reach = 0;
        let role = user.role.get();
        if role.matrix.allows(category, action) {
            any = true;
            reach |= reach_of(role.scope);
        }
        if role.member.allows(category, action) && !user.agent_of().is_empty() {
            any = true;
            reach |= REACH_MEMBER;
        }
        if let Some(custom) = user.custom_role.and_then(|c| self.roles.at(c))
            && custom.matrix.allows(category, action)
        {
            any = true;
            reach |= reach_of(custom.scope);
        }
        if REPORTING.allows(category, action) {
            if user.full_report {
                any = true;
                reach |= REACH_TENANT;
            }
            if user.has_resource_grants() {
                any = true;
                reach |= REACH_GRANTED;
            }
        }
        let mut toggles = user.features;
        while toggles != 0 {
            let i = toggles.trailing_zeros() as usize;
            toggles &= toggles - 1;
            if let Some(t) = FEATURE_TOGGLES.get(i)
                && t.category == category
                && t.actions & action.bit() != 0
            {
                any = true;
                reach |= reach_of(t.scope);
            }
        }
        (any, reach)
    }

    /// The user's site: their own, else their lowest extension's.
    pub fn user_site(&self, user: &UserEntry) -> Option<u32> {
        // Else the site of their lowest extension (by its text) that has one: the same
        // answer whatever order the directory lists the extensions in.
        user.site.or_else(|| {
            user.own_exts()
                .iter()
                .filter_map(|&e| self.exts.at(e))
                .filter(|e| e.site.is_some())
                .min_by(|a, b| a.ext.cmp(&b.ext))
                .and_then(|e| e.site)
        })
    }
}

/// The tenant id a From host names, when it is spelled otherwise than the id: lowercase,
/// without a trailing dot. `None` when it is already canonical (or too long to be an id).
fn canonical_tenant(host: &str) -> Option<String> {
    let trimmed = host.trim().trim_end_matches('.');
    let needs = trimmed.len() != host.len() || trimmed.bytes().any(|b| b.is_ascii_uppercase());
    (needs && !trimmed.is_empty() && trimmed.len() <= 255).then(|| trimmed.to_ascii_lowercase())
}

/// A user id and nothing else: the positions users get before they are compiled.
struct Placeholder(Box<str>);
impl Keyed for Placeholder {
    type Key = str;
    fn key(&self) -> &str {
        &self.0
    }
}

fn sorted(it: impl Iterator<Item = u32>) -> Box<[u32]> {
    sorted_vec(it.collect()).into_boxed_slice()
}

fn sorted_vec(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v.dedup();
    v
}

/// Whether a sorted set holds `x`. Sets are tiny; a linear scan beats a binary search there.
#[inline]
pub fn contains(set: &[u32], x: u32) -> bool {
    if set.len() <= 16 {
        set.contains(&x)
    } else {
        set.binary_search(&x).is_ok()
    }
}
