//! [`Index`]: a tenant's items of one kind in a `Vec`, found by key; [`Pos`], a position in
//! one, typed by the kind so a user's position cannot stand in for a queue's; and [`Set`], the
//! sorted sets of positions that link one kind to another.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use hashbrown::HashTable;

use super::Hasher;

/// Something stored in an [`Index`], found by a key it carries.
pub trait Keyed {
    /// The key's borrowed form.
    type Key: ?Sized + Hash + Eq;
    /// The item's key.
    fn key(&self) -> &Self::Key;
}

/// The position of a `T` in its tenant's [`Index<T>`]: a `u32` that only an `Index<T>` gives
/// out and only an `Index<T>` (or a [`Set<T>`]) takes, so `pause(actor, agent, queue)` cannot
/// be called with two positions swapped. Positions are stable: a tenant recompiled by a splice
/// keeps every position it does not remove.
#[repr(transparent)]
pub struct Pos<T>(u32, PhantomData<fn() -> T>);

impl<T> Pos<T> {
    pub(super) const fn new(i: u32) -> Pos<T> {
        Pos(i, PhantomData)
    }
    /// The same index as a position of another kind: only for two indexes built in the same
    /// order (a tenant's user placeholders and its users).
    pub(super) const fn retype<U>(self) -> Pos<U> {
        Pos::new(self.0)
    }
    /// The bare index (for storage in a mixed set, or display).
    #[inline]
    pub const fn get(self) -> u32 {
        self.0
    }
}
impl<T> Clone for Pos<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Pos<T> {}
impl<T> PartialEq for Pos<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<T> Eq for Pos<T> {}
impl<T> PartialOrd for Pos<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Pos<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}
impl<T> Hash for Pos<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u32(self.0);
    }
}
impl<T> fmt::Debug for Pos<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A sorted set of positions of `T`s, borrowed from where it is stored (a user keeps six such
/// sets of different kinds back to back as bare `u32`s; this is one of them, typed again).
pub struct Set<'a, T> {
    items: &'a [u32],
    kind: PhantomData<fn() -> T>,
}
impl<T> Clone for Set<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Set<'_, T> {}

impl<'a, T> Set<'a, T> {
    pub(super) const fn of(items: &'a [u32]) -> Set<'a, T> {
        Set {
            items,
            kind: PhantomData,
        }
    }
    /// Whether the set holds `p`. Sets are tiny; a linear scan beats a binary search there.
    #[inline]
    pub fn contains(self, p: Pos<T>) -> bool {
        contains(self.items, p.0)
    }
    /// The positions, in order.
    pub fn iter(self) -> impl Iterator<Item = Pos<T>> + 'a {
        self.items.iter().map(|&i| Pos::new(i))
    }
    /// Whether it is empty.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.items.is_empty()
    }
    /// How many positions.
    pub fn len(self) -> usize {
        self.items.len()
    }
    /// The bare indexes, sorted.
    pub fn raw(self) -> &'a [u32] {
        self.items
    }
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
    pub(super) fn with_capacity(n: usize) -> Index<T> {
        Index {
            items: Vec::with_capacity(n),
            slots: HashTable::with_capacity(n),
            hasher: Hasher::default(),
        }
    }

    /// Adds an item; returns its position, or the existing one's if the key is taken.
    pub(super) fn push(&mut self, item: T) -> Pos<T> {
        let hash = self.hasher.hash_one(item.key());
        let items = &self.items;
        if let Some(&i) = self.slots.find(hash, |&i| {
            items.get(i as usize).is_some_and(|x| x.key() == item.key())
        }) {
            return Pos::new(i);
        }
        let i = u32::try_from(self.items.len()).unwrap_or(u32::MAX);
        self.items.push(item);
        let (items, hasher) = (&self.items, &self.hasher);
        self.slots.insert_unique(hash, i, |&j| {
            items
                .get(j as usize)
                .map_or(0, |x| hasher.hash_one(x.key()))
        });
        Pos::new(i)
    }

    /// Stops finding the item with `key` (it keeps its position, so nothing that points at
    /// another item moves); its position, if there was one.
    pub(super) fn forget(&mut self, key: &T::Key) -> Option<Pos<T>> {
        let hash = self.hasher.hash_one(key);
        let items = &self.items;
        let entry = self
            .slots
            .find_entry(hash, |&i| {
                items.get(i as usize).is_some_and(|x| x.key() == key)
            })
            .ok()?;
        let (i, _) = entry.remove();
        Some(Pos::new(i))
    }

    /// The item at position `i`, to change in place (its key must stay the same).
    pub(super) fn at_mut(&mut self, i: Pos<T>) -> Option<&mut T> {
        self.items.get_mut(i.0 as usize)
    }

    /// The position of the item with `key`. Always inlined: a check makes a handful of
    /// these lookups, and out of line (as LLVM chose for the recording check once positions
    /// were typed) each costs a call and the hash set-up again.
    #[inline(always)]
    pub fn find(&self, key: &T::Key) -> Option<Pos<T>> {
        let hash = self.hasher.hash_one(key);
        self.slots
            .find(hash, |&i| {
                self.items.get(i as usize).is_some_and(|x| x.key() == key)
            })
            .map(|&i| Pos::new(i))
    }

    /// The item with `key`, and its position.
    #[inline(always)]
    pub fn get(&self, key: &T::Key) -> Option<(Pos<T>, &T)> {
        let i = self.find(key)?;
        self.at(i).map(|x| (i, x))
    }

    /// The item at a position.
    #[inline]
    pub fn at(&self, i: Pos<T>) -> Option<&T> {
        self.items.get(i.0 as usize)
    }

    /// Every item, by position.
    pub fn iter(&self) -> impl Iterator<Item = (Pos<T>, &T)> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, x)| (Pos::new(i as u32), x))
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

pub(super) fn sorted<T>(it: impl Iterator<Item = Pos<T>>) -> Box<[Pos<T>]> {
    sorted_vec(it.collect()).into_boxed_slice()
}

pub(super) fn sorted_vec<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort_unstable();
    v.dedup();
    v
}

/// Whether a sorted set holds `x`. Sets are tiny; a linear scan beats a binary search there.
#[inline]
pub fn contains<T: Ord>(set: &[T], x: T) -> bool {
    if set.len() <= 16 {
        set.contains(&x)
    } else {
        set.binary_search(&x).is_ok()
    }
}
