//! The grant table: every tenant compiled into flat, index-linked arrays, behind a DashMap.
//!
//! A check is a tenant lookup (one DashMap shard read), a user lookup and at most a couple of
//! resource lookups (hash tables keyed by `&str` or by the number's integer), then bit tests
//! and scans of a few `u32`s. Nothing on that path allocates. A change to a tenant compiles
//! the tenant anew (or patches it with a splice) and swaps it in whole, so a check always
//! sees one consistent revision of a tenant.
//!
//! One job per module:
//! - this one: the [`Table`] itself, tenants by id behind a DashMap, its revision, the
//!   platform's emergency numbers. Whoever writes it (the daemon's store follower, a
//!   replica's feed reader) tells others what it wrote; the table only holds and answers;
//! - [`index`]: [`Index`], items found by key, and the typed positions that link them;
//! - [`compiled`]: what a compiled tenant holds ([`CompiledTenant`] and its entries);
//! - `compile`: a directory tenant compiled, or a compiled one patched with a splice;
//! - [`reach`]: where a user's role, scope and grants reach ([`CompiledTenant::reach`]).

mod compile;
pub mod compiled;
pub mod index;
pub mod reach;

pub use compiled::{
    CodeEntry, CompiledTenant, Delta, ExtEntry, NumberEntry, QueueEntry, RoleEntry, RoleRef,
    SiteEntry, UserEntry,
};
pub use index::{Index, Keyed, Pos, Set, contains};
pub use reach::{
    REACH_GRANTED, REACH_MEMBER, REACH_OWN, REACH_SITE, REACH_SUPERVISED, REACH_TENANT, Reach,
    reach_of,
};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::dial::{self, EmergencySet, Target};

use dashmap::DashMap;
use smol_str::SmolStr;

use crate::model::Tenant;

type Hasher = foldhash::fast::RandomState;

/// How many platform-wide emergency numbers a table holds at most.
pub const MAX_PLATFORM_EMERGENCY: usize = 32;

/// How many shards the tenant map has. A check takes its shard's read lock, an atomic on a
/// cache line of its own; with many shards, threads checking different tenants seldom share
/// one (DashMap's default, four per core, is 8 on a 2-core machine).
const SHARDS: usize = 256;

/// The live grant table: compiled tenants by id, and the revision they are at.
pub struct Table {
    /// Keyed by the tenant's id, inline (up to 23 bytes) in the map's own slot: finding a
    /// tenant compares the id without reading another cache line.
    tenants: DashMap<SmolStr, Arc<CompiledTenant>, Hasher>,
    revision: AtomicU64,
    /// The platform-wide emergency numbers ([`dial::key`]s; 0 ends the list), honoured for
    /// every tenant, known or not. Atomics, so a check reads them without a lock.
    platform_emergency: [AtomicU64; MAX_PLATFORM_EMERGENCY],
    /// The largest of `platform_emergency`: a key with more digits is always larger, so an
    /// ordinary number (longer than any emergency number) is ruled out by one comparison.
    platform_emergency_max: AtomicU64,
}

impl Default for Table {
    fn default() -> Table {
        let table = Table {
            tenants: DashMap::with_hasher_and_shard_amount(Hasher::default(), SHARDS),
            revision: AtomicU64::new(0),
            platform_emergency: std::array::from_fn(|_| AtomicU64::new(0)),
            platform_emergency_max: AtomicU64::new(u64::MAX),
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

    /// Raises the revision to `revision` (never lowers it).
    pub fn advance(&self, revision: u64) {
        self.revision.fetch_max(revision, Ordering::AcqRel);
    }

    /// Compiles `tenant` and puts it in place of any tenant with the same id, then raises the
    /// table's revision to `revision`.
    pub fn put(&self, tenant: &Tenant, revision: u64) {
        let compiled = CompiledTenant::compile(tenant, revision);
        self.put_compiled(compiled);
    }

    /// Puts an already compiled tenant in place (compile outside any lock, swap inside).
    pub fn put_compiled(&self, tenant: CompiledTenant) {
        self.put_shared(Arc::new(tenant));
    }

    /// Puts a compiled tenant someone else also holds (the daemon's feed sends it on).
    pub fn put_shared(&self, tenant: Arc<CompiledTenant>) {
        let revision = tenant.revision;
        self.tenants.insert(tenant.id.clone(), tenant);
        self.revision.fetch_max(revision, Ordering::AcqRel);
    }

    /// Removes a tenant, then raises the revision.
    pub fn remove(&self, tenant: &str, revision: u64) {
        self.tenants.remove(tenant);
        self.revision.fetch_max(revision, Ordering::AcqRel);
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
    }

    /// A tenant, read in place: the guard holds its shard's read lock until it is dropped (no
    /// reference count touched). A tenant id is a lowercase slug; a From host spelled
    /// otherwise (`ACME`, `acme.`) finds the same tenant.
    ///
    /// The checks read a tenant through this guard rather than through a closure: a closure
    /// shared by several callers is one function that LLVM kept out of line (the caller-ID
    /// check's was), and the answer then went back through memory. Always inlined, so the
    /// guard is built in registers.
    #[inline(always)]
    pub fn read(&self, tenant: &str) -> Option<TenantRef<'_>> {
        let t = match self.tenants.get(tenant) {
            Some(t) => t,
            None => self.tenants.get(canonical_tenant(tenant)?.as_str())?,
        };
        Some(TenantRef(t))
    }

    /// Runs `f` on a tenant while holding its shard's read lock ([`Table::read`]).
    #[inline]
    pub fn with_tenant<R>(&self, tenant: &str, f: impl FnOnce(&CompiledTenant) -> R) -> Option<R> {
        self.read(tenant).map(|t| f(&t))
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

/// A tenant of a [`Table`], read in place ([`Table::read`]): its shard stays read-locked, so
/// hold it for one check, not across a wait.
pub struct TenantRef<'a>(dashmap::mapref::one::Ref<'a, SmolStr, Arc<CompiledTenant>>);

impl std::ops::Deref for TenantRef<'_> {
    type Target = CompiledTenant;
    #[inline]
    fn deref(&self) -> &CompiledTenant {
        self.0.value()
    }
}

/// The tenant id a From host names, when it is spelled otherwise than the id: lowercase,
/// without a trailing dot. `None` when it is already canonical (or too long to be an id).
fn canonical_tenant(host: &str) -> Option<String> {
    let trimmed = host.trim().trim_end_matches('.');
    let needs = trimmed.len() != host.len() || trimmed.bytes().any(|b| b.is_ascii_uppercase());
    (needs && !trimmed.is_empty() && trimmed.len() <= 255).then(|| trimmed.to_ascii_lowercase())
}
