//! What a compiled tenant holds: one [`Index`] per kind of directory entity, each entry
//! pointing at the others by position, and the sets of positions each user takes part in.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use smol_str::SmolStr;

use crate::catalog::{Matrix, RoleId, Scope};
use crate::dial::EmergencySet;
use crate::edit::Splice;
use crate::feature::FeatureKind;
use crate::number::E164;

use super::Hasher;
use super::index::{Index, Keyed, Pos, Set};

/// A site.
#[derive(Clone)]
pub struct SiteEntry {
    /// Its id.
    pub id: Box<str>,
    /// Its emergency callback number (the smallest flagged one).
    pub emergency_callback: Option<Pos<NumberEntry>>,
}

/// A DID.
#[derive(Clone)]
pub struct NumberEntry {
    /// The number.
    pub number: E164,
    /// Its site.
    pub site: Option<Pos<SiteEntry>>,
    /// The extension it is routed to.
    pub ext: Option<Pos<ExtEntry>>,
}

/// An extension.
#[derive(Clone)]
pub struct ExtEntry {
    /// Its dial string, shared so answers can carry it without allocating.
    pub ext: Arc<str>,
    /// Its site.
    pub site: Option<Pos<SiteEntry>>,
    /// Its owner.
    pub owner: Option<Pos<UserEntry>>,
    /// The smallest DID routed to it.
    pub did: Option<Pos<NumberEntry>>,
}

/// A queue.
#[derive(Clone)]
pub struct QueueEntry {
    /// Its id, shared so answers can carry it without allocating.
    pub id: Arc<str>,
    /// Its dial string.
    pub number: Option<Box<str>>,
    /// Its site.
    pub site: Option<Pos<SiteEntry>>,
    /// Its agents (sorted).
    pub agents: Box<[Pos<UserEntry>]>,
    /// Its supervisors (sorted).
    pub supervisors: Box<[Pos<UserEntry>]>,
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

/// A user, compiled: their role, and every set they take part in as sorted positions.
#[derive(Clone)]
pub struct UserEntry {
    /// Their id: inline up to 23 bytes, so the lookup's compare reads the entry's own cache
    /// line rather than a separate allocation; longer ids are shared by reference count (a
    /// patched tenant copies users without copying text).
    pub id: SmolStr,
    /// Their built-in role.
    pub role: RoleId,
    /// Their custom role.
    pub custom_role: Option<Pos<RoleEntry>>,
    /// Their site.
    pub site: Option<Pos<SiteEntry>>,
    /// Whether they may act at all.
    pub active: bool,
    /// `full_call_report_access`.
    pub full_report: bool,
    /// Feature toggles switched on, by index in [`FEATURE_TOGGLES`](crate::catalog::FEATURE_TOGGLES).
    pub features: u16,
    /// Their default caller ID.
    pub default_caller_id: Option<Pos<NumberEntry>>,
    /// The six sets, back to back: own extensions, queues they are an agent of, queues they
    /// supervise, granted extensions, granted queues, granted numbers.
    pub(super) sets: Sets,
    pub(super) ends: [u32; 6],
}

/// How many positions a user's sets hold in the entry itself: enough for the usual user (an
/// extension, a queue or two, a few grants).
const INLINE_SETS: usize = 6;

/// A user's sets, back to back: in the entry when they are few, so a check reads them from
/// a cache line the user lookup has already loaded; else shared by reference count (a
/// patched tenant copies users without copying them).
#[derive(Clone)]
pub(super) enum Sets {
    /// Up to [`INLINE_SETS`] positions.
    Inline { len: u8, items: [u32; INLINE_SETS] },
    /// More.
    Shared(Arc<[u32]>),
}

impl Sets {
    /// No sets at all.
    pub(super) const EMPTY: Sets = Sets::Inline {
        len: 0,
        items: [0; INLINE_SETS],
    };

    fn new(all: Vec<u32>) -> Sets {
        match u8::try_from(all.len()) {
            Ok(len) if all.len() <= INLINE_SETS => {
                let mut items = [0; INLINE_SETS];
                items
                    .iter_mut()
                    .zip(&all)
                    .for_each(|(to, &from)| *to = from);
                Sets::Inline { len, items }
            }
            _ => Sets::Shared(all.into()),
        }
    }

    #[inline]
    fn as_slice(&self) -> &[u32] {
        match self {
            Sets::Inline { len, items } => items.get(..usize::from(*len)).unwrap_or(&[]),
            Sets::Shared(all) => all,
        }
    }
}

pub(super) const OWN_EXTS: usize = 0;
pub(super) const AGENT_OF: usize = 1;
pub(super) const SUPERVISES: usize = 2;
pub(super) const GRANTED_EXTS: usize = 3;
pub(super) const GRANTED_QUEUES: usize = 4;
pub(super) const GRANTED_NUMBERS: usize = 5;

impl UserEntry {
    /// The same user with these six sets (each sorted).
    pub(super) fn with_sets(mut self, parts: &[Vec<u32>; 6]) -> UserEntry {
        let mut ends = [0u32; 6];
        let mut all = Vec::with_capacity(parts.iter().map(Vec::len).sum());
        for (end, part) in ends.iter_mut().zip(parts) {
            all.extend_from_slice(part);
            *end = u32::try_from(all.len()).unwrap_or(u32::MAX);
        }
        self.sets = Sets::new(all);
        self.ends = ends;
        self
    }

    /// Its six sets, copied.
    pub(super) fn sets(&self) -> [Vec<u32>; 6] {
        std::array::from_fn(|i| self.set(i).to_vec())
    }

    fn set(&self, which: usize) -> &[u32] {
        let start = match which.checked_sub(1) {
            Some(prev) => self.ends.get(prev).copied().unwrap_or(0),
            None => 0,
        };
        let end = self.ends.get(which).copied().unwrap_or(0);
        self.sets
            .as_slice()
            .get(start as usize..end as usize)
            .unwrap_or(&[])
    }

    /// The extensions they own.
    pub fn own_exts(&self) -> Set<'_, ExtEntry> {
        Set::of(self.set(OWN_EXTS))
    }
    /// The queues they are an agent of.
    pub fn agent_of(&self) -> Set<'_, QueueEntry> {
        Set::of(self.set(AGENT_OF))
    }
    /// The queues they supervise.
    pub fn supervises(&self) -> Set<'_, QueueEntry> {
        Set::of(self.set(SUPERVISES))
    }
    /// Their granted extensions.
    pub fn granted_exts(&self) -> Set<'_, ExtEntry> {
        Set::of(self.set(GRANTED_EXTS))
    }
    /// Their granted queues.
    pub fn granted_queues(&self) -> Set<'_, QueueEntry> {
        Set::of(self.set(GRANTED_QUEUES))
    }
    /// Their granted numbers.
    pub fn granted_numbers(&self) -> Set<'_, NumberEntry> {
        Set::of(self.set(GRANTED_NUMBERS))
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
    /// A custom role.
    Custom(Pos<RoleEntry>),
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

/// A tenant, compiled for checks.
pub struct CompiledTenant {
    /// Its id (inline up to 23 bytes, like a user's).
    pub id: SmolStr,
    /// The revision it was compiled at.
    pub revision: u64,
    /// Its default caller ID.
    pub default_caller_id: Option<Pos<NumberEntry>>,
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
    pub(super) queue_numbers: hashbrown::HashMap<Box<str>, Pos<QueueEntry>, Hasher>,
    /// Custom roles.
    pub roles: Index<RoleEntry>,
    /// Users. A user a splice removed keeps their position (nothing points at it) but is
    /// no longer found by id.
    pub users: Index<UserEntry>,
    /// Feature codes, longest code first.
    pub codes: Arc<[CodeEntry]>,
    /// How many splices have patched it since it was compiled whole (0 for a tenant
    /// compiled whole). Each patch leaves the positions of the users it removed behind, so
    /// whoever writes the table compiles a tenant whole again past a bound of its choosing.
    pub patches: u32,
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
pub(super) fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl CompiledTenant {
    /// A queue by id, else by its dial string.
    #[inline]
    pub fn queue(&self, key: &str) -> Option<(Pos<QueueEntry>, &QueueEntry)> {
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
    pub fn number(&self, number: E164) -> Option<(Pos<NumberEntry>, &NumberEntry)> {
        self.numbers.get(&number.value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user's sets read back as written, in the entry (up to `INLINE_SETS` positions) or
    /// shared (more), each set where its end says.
    #[test]
    fn a_users_sets_read_back_inline_or_shared() {
        for n in 0..=INLINE_SETS + 3 {
            let all: Vec<u32> = (0..n as u32).map(|i| i * 3 + 1).collect();
            let sets = Sets::new(all.clone());
            assert_eq!(sets.as_slice(), all.as_slice(), "{n} positions");
            assert_eq!(matches!(sets, Sets::Inline { .. }), n <= INLINE_SETS, "{n}");
        }
        let parts: [Vec<u32>; 6] = [vec![1], vec![], vec![2, 5], vec![7], vec![], vec![3, 4, 9]];
        let user = UserEntry {
            id: "u1".into(),
            role: RoleId::NOBODY,
            custom_role: None,
            site: None,
            active: true,
            full_report: false,
            features: 0,
            default_caller_id: None,
            sets: Sets::EMPTY,
            ends: [0; 6],
        }
        .with_sets(&parts);
        assert!(
            matches!(user.sets, Sets::Shared(_)),
            "seven positions are shared"
        );
        assert_eq!(user.sets(), parts);
        assert!(user.granted_numbers().contains(Pos::new(9)));
        assert!(!user.granted_numbers().contains(Pos::new(7)));
    }
}
