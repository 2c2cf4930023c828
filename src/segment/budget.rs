//! The store-wide budget for open segments: file descriptors and memory maps.
//!
//! A segment is *open* while it holds its `.log` descriptor or a map of its
//! `.log` or index files (at most two descriptors and three maps). The budget
//! keeps two limits across every partition of a store:
//! `log.open.segments.max` open segments and `log.mapped.bytes.max` mapped
//! bytes. Whenever a segment opens or maps something and a limit is passed,
//! the least recently used other segments are closed and unmapped until it
//! holds again; they reopen on their next use, and a reopen is checked to
//! find the same file ([`crate::io::identity`]). An `open` or `mmap` that
//! fails with `EMFILE`, `ENFILE` or `ENOMEM` evicts a segment and retries
//! instead of failing.
//!
//! Views handed out keep their mapping alive (a `Bytes` owns it): eviction
//! drops only the segment's own handle, so what is counted is what the store
//! holds, not what readers still hold.
//!
//! A `.log` map keeps the descriptor it was made of, which
//! [`crate::log::FileSlice::file`] hands a server to `sendfile` from without
//! a syscall while the map keeps it: the segment's write descriptor when it
//! holds one (the active segment's), else a read-only one. So an open
//! segment holds at most two descriptors (one but for a sealed segment that
//! reopened its write descriptor to sync or rename beside its map's), and
//! the store's segments at most twice `log.open.segments.max`;
//! [`ResourceStats::open_files`] counts both kinds, once when they are the
//! same. Eviction and the seal's trim drop the map's share with the map. A
//! [`crate::log::FileSlice`] a reader holds keeps no descriptor (its
//! segment, which reopens the file through the budget when asked), so
//! readers holding fetches across many segments hold no descriptors the
//! budget does not count; a file
//! `FileSlice::file` handed out stays open while its caller holds it (an
//! `Arc<File>`: never closed under it, so never reused for another file), as
//! a view keeps its mapping: those are the reader's, not counted.
//!
//! A segment taken out of its log (by the cleaner, retention or
//! `delete_records`: `Segment::retire`) leaves the budget before it maps its
//! `.log` whole and is renamed `.deleted`: that map is uncounted and never
//! evicted, so readers of an older segment list read it until they drop the
//! segment, and never reopen a file that `file.delete.delay.ms` (0
//! included) may have removed. It keeps no descriptor (one each, uncounted
//! for up to `file.delete.delay.ms`, took 250 descriptors after a
//! `delete_records` over 250 segments); its slices open the `.deleted`
//! file when asked, while it is there. A descriptor a sync reopens for it, and an
//! index a lookup maps, last only for that call.
//!
//! Lock order: a segment may call into the budget while holding its own
//! locks; eviction only ever *tries* the victim's locks and skips a busy
//! victim, so no two segments wait on each other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use super::Segment;

/// Fewest and most open segments of the default `log.open.segments.max`.
const AUTO_MIN_OPEN_SEGMENTS: u64 = 64;
const AUTO_MAX_OPEN_SEGMENTS: u64 = 4_096;
/// The least default `log.mapped.bytes.max` (16 GiB), and the address space
/// the default allows per open segment (64 MiB: two 10 MiB indexes and a
/// `.log` map, with room).
const AUTO_MIN_MAPPED_BYTES: u64 = 16 << 30;
const AUTO_MAPPED_BYTES_PER_SEGMENT: u64 = 64 << 20;

/// The default `log.open.segments.max` (the key at 0): a quarter of the
/// process's open-file limit (`RLIMIT_NOFILE`), between 64 and 4,096: 256
/// under the common `ulimit -n 1024`, and enough for every active segment
/// of a few thousand partitions where the limit is raised (as Kafka's
/// operators are told to), so that appends round-robin over them never
/// close and reopen files. Each open segment holds at most two descriptors
/// (its write descriptor and its map's, one when they are the same), so open
/// segments take at most half the limit.
#[must_use]
pub(crate) fn auto_max_open_segments() -> u32 {
    let quarter = crate::io::open_file_limit().map_or(AUTO_MAX_OPEN_SEGMENTS, |n| n / 4);
    let n = quarter.clamp(AUTO_MIN_OPEN_SEGMENTS, AUTO_MAX_OPEN_SEGMENTS);
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The default `log.mapped.bytes.max` (the key at 0) for `max_open` open
/// segments: 64 MiB of address space each, at least 16 GiB. An active
/// segment maps both its indexes at `segment.index.bytes` (10 MiB each by
/// default), so the byte limit must not evict before the segment limit does.
#[must_use]
pub(crate) fn auto_max_mapped_bytes(max_open: u32) -> u64 {
    (u64::from(max_open).saturating_mul(AUTO_MAPPED_BYTES_PER_SEGMENT)).max(AUTO_MIN_MAPPED_BYTES)
}

/// What the segments of a store hold open, and how often the budget evicted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceStats {
    /// Segments holding a descriptor or a map.
    pub open_segments: usize,
    /// `.log` descriptors the segments hold: their own (for writing and
    /// syncing) and the ones their `.log` maps keep (see
    /// [`crate::log::FileSlice::file`]), once when they are the same; at
    /// most two per open segment. Files `FileSlice::file` handed out that
    /// their callers still hold are not counted.
    pub open_files: usize,
    /// Bytes of `.log` and index maps the segments hold.
    pub mapped_bytes: u64,
    /// Segments closed and unmapped to stay within the budget.
    pub evictions: u64,
    /// `log.open.segments.max`.
    pub max_open_segments: usize,
    /// `log.mapped.bytes.max`.
    pub max_mapped_bytes: u64,
}

#[derive(Debug, Default)]
struct Totals {
    files: usize,
    mapped: u64,
    /// Open segments' accounts (with their last-use stamps) by id. An
    /// account leaves this map when its segment closes everything or drops
    /// ([`Account::detach`]), so the account's own reference to the budget
    /// makes no lasting cycle.
    open: HashMap<u64, Arc<Account>>,
}

/// The limits and the open segments of one store (or of every log opened
/// without a store, which share [`Budget::process_default`]).
#[derive(Debug)]
pub(crate) struct Budget {
    max_open: usize,
    max_mapped: u64,
    totals: Mutex<Totals>,
    clock: AtomicU64,
    next_id: AtomicU64,
    evictions: AtomicU64,
}

impl Budget {
    /// A budget of `max_open` open segments and `max_mapped` mapped bytes;
    /// 0 for either is its default ([`auto_max_open_segments`],
    /// [`auto_max_mapped_bytes`]).
    #[must_use]
    pub(crate) fn new(max_open: u32, max_mapped: u64) -> Arc<Budget> {
        let max_open = if max_open == 0 { auto_max_open_segments() } else { max_open };
        let max_mapped = if max_mapped == 0 { auto_max_mapped_bytes(max_open) } else { max_mapped };
        Arc::new(Budget {
            max_open: usize::try_from(max_open).unwrap_or(usize::MAX).max(1),
            max_mapped: max_mapped.max(1),
            totals: Mutex::new(Totals::default()),
            // Above every new account's stamp (0): `touch` skips an account
            // whose stamp equals the clock, so one starting equal to it would
            // never take a stamp (nor move the clock for the others).
            clock: AtomicU64::new(1),
            next_id: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        })
    }

    /// The budget of logs opened without a store, with the default limits.
    #[must_use]
    pub(crate) fn process_default() -> Arc<Budget> {
        static DEFAULT: OnceLock<Arc<Budget>> = OnceLock::new();
        Arc::clone(DEFAULT.get_or_init(|| Budget::new(0, 0)))
    }

    /// The current figures.
    #[must_use]
    pub(crate) fn stats(&self) -> ResourceStats {
        let t = self.totals.lock();
        ResourceStats {
            open_segments: t.open.len(),
            open_files: t.files,
            mapped_bytes: t.mapped,
            evictions: self.evictions.load(Ordering::Relaxed),
            max_open_segments: self.max_open,
            max_mapped_bytes: self.max_mapped,
        }
    }

    fn over(&self, t: &Totals) -> bool {
        t.open.len() > self.max_open || t.mapped > self.max_mapped
    }

    /// Evicts least recently used segments other than `except` while over a
    /// limit. Busy victims are skipped (they are in use, so not idle).
    ///
    /// Past the open-segment limit it evicts a batch: the excess and
    /// 1/64 of the limit more, picked in one scan of the open segments.
    /// Appends round-robin over more partitions than the limit evict on
    /// nearly every append, and a scan per eviction (256 segments at the
    /// default) cost more than the reopen it makes room for.
    fn enforce(&self, except: u64) {
        let mut skipped = Vec::new();
        loop {
            let victims = {
                let t = self.totals.lock();
                if !self.over(&t) {
                    return;
                }
                let excess = t.open.len().saturating_sub(self.max_open);
                let batch = if excess > 0 { excess + self.max_open / 64 } else { 1 };
                Self::least_recent_n(&t, except, &skipped, batch)
            };
            if victims.is_empty() {
                return;
            }
            for (id, seg) in victims {
                // Upgraded and dropped outside the lock: a segment's drop leaves the budget.
                // Each victim is tried once a call, evicted or not: one still counted open
                // after its eviction (mapped again meanwhile, or a count that no map
                // matches) is not picked again and again, which spun here forever.
                if let Some(s) = seg.upgrade() {
                    s.evict();
                }
                skipped.push(id);
            }
        }
    }

    /// The `n` least recently used open segments other than `except` and
    /// `skipped`, in one scan.
    fn least_recent_n(
        t: &Totals,
        except: u64,
        skipped: &[u64],
        n: usize,
    ) -> Vec<(u64, Weak<Segment>)> {
        if n <= 1 {
            return Self::least_recent(t, except, skipped).into_iter().collect();
        }
        let mut all: Vec<(u64, u64, &Weak<Segment>)> = t
            .open
            .iter()
            .filter(|(id, _)| **id != except && !skipped.contains(id))
            .map(|(id, account)| (account.used.load(Ordering::Relaxed), *id, &account.segment))
            .collect();
        if all.len() > n {
            all.select_nth_unstable_by_key(n - 1, |(used, _, _)| *used);
            all.truncate(n);
        }
        all.into_iter().map(|(_, id, seg)| (id, seg.clone())).collect()
    }

    /// Evicts the least recently used segment other than `except` (an open or
    /// map failed for lack of descriptors or memory); whether one was.
    pub(crate) fn relieve(&self, except: u64) -> bool {
        let mut skipped = Vec::new();
        loop {
            let victim = Self::least_recent(&self.totals.lock(), except, &skipped);
            let Some((id, seg)) = victim else { return false };
            if seg.upgrade().is_some_and(|s| s.evict()) {
                return true;
            }
            skipped.push(id);
        }
    }

    /// Closes and unmaps every idle segment (a store about to close frees
    /// its descriptors first, so closing needs no more than it has).
    pub(crate) fn evict_all(&self) {
        let open: Vec<Weak<Segment>> =
            self.totals.lock().open.values().map(|account| account.segment.clone()).collect();
        for seg in open {
            if let Some(seg) = seg.upgrade() {
                seg.evict();
            }
        }
    }

    fn least_recent(t: &Totals, except: u64, skipped: &[u64]) -> Option<(u64, Weak<Segment>)> {
        t.open
            .iter()
            .filter(|(id, _)| **id != except && !skipped.contains(id))
            .min_by_key(|(_, account)| account.used.load(Ordering::Relaxed))
            .map(|(id, account)| (*id, account.segment.clone()))
    }
}

/// What one segment holds.
#[derive(Debug, Default, Clone, Copy)]
struct Held {
    files: usize,
    mapped: u64,
    /// Set once the segment leaves the budget (retired or dropped).
    detached: bool,
}

/// One segment's share of a [`Budget`]: the segment and its two indexes
/// report what they open and unmap here.
///
/// `repr(C)`: the budget and the last-use stamp, which every append reads
/// ([`Account::touch`]), share the first cache line (the stamp was an
/// allocation of its own: one more miss per append when appends go
/// round-robin over many partitions).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Account {
    budget: Arc<Budget>,
    /// The budget clock's value at the last use.
    used: AtomicU64,
    id: u64,
    segment: Weak<Segment>,
    held: Mutex<Held>,
}

impl Account {
    pub(crate) fn new(budget: &Arc<Budget>, segment: Weak<Segment>) -> Account {
        Account {
            budget: Arc::clone(budget),
            id: budget.next_id.fetch_add(1, Ordering::Relaxed),
            segment,
            used: AtomicU64::new(0),
            held: Mutex::new(Held::default()),
        }
    }

    /// Records a use (for least-recently-used eviction). Every read calls
    /// this, so the common case — the segment already holds the newest
    /// stamp, because nothing else was used since — is two relaxed loads:
    /// no read-modify-write of the store-wide clock (a cache line every
    /// reading thread would fight over) and no lock. The order of stamps,
    /// and so the eviction order, is the same as stamping every use.
    #[inline]
    pub(crate) fn touch(&self) {
        let newest = self.budget.clock.load(Ordering::Relaxed);
        if self.used.load(Ordering::Relaxed) != newest {
            self.used
                .store(self.budget.clock.fetch_add(1, Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
    }

    /// Records `files` descriptors and `bytes` mapped bytes opened (positive)
    /// or closed (negative); evicts other segments if that passes a limit.
    pub(crate) fn adjust(self: &Arc<Self>, files: isize, bytes: i64) {
        let grew = files > 0 || bytes > 0;
        {
            let mut held = self.held.lock();
            if held.detached {
                return;
            }
            let was_open = held.files > 0 || held.mapped > 0;
            let new_files = held.files.saturating_add_signed(files);
            let new_mapped = held.mapped.saturating_add_signed(bytes);
            let mut t = self.budget.totals.lock();
            t.files = t.files.saturating_sub(held.files).saturating_add(new_files);
            t.mapped = t.mapped.saturating_sub(held.mapped).saturating_add(new_mapped);
            held.files = new_files;
            held.mapped = new_mapped;
            let open = new_files > 0 || new_mapped > 0;
            if open && !was_open {
                t.open.insert(self.id, Arc::clone(self));
            } else if !open && was_open {
                t.open.remove(&self.id);
            }
        }
        if grew {
            self.touch();
            self.budget.enforce(self.id);
        }
    }

    /// Leaves the budget: what the segment still holds is no longer counted.
    pub(crate) fn detach(&self) {
        let mut held = self.held.lock();
        if held.detached {
            return;
        }
        let mut t = self.budget.totals.lock();
        t.files = t.files.saturating_sub(held.files);
        t.mapped = t.mapped.saturating_sub(held.mapped);
        t.open.remove(&self.id);
        *held = Held { detached: true, ..Held::default() };
    }

    /// Whether the segment has left the budget ([`Account::detach`]): a
    /// retired segment's maps are then its readers', never eviction's.
    pub(crate) fn is_detached(&self) -> bool {
        self.held.lock().detached
    }

    /// Evicts another segment after an `EMFILE`/`ENFILE`/`ENOMEM`; whether
    /// one was (so a retry may succeed).
    pub(crate) fn relieve(&self) -> bool {
        self.budget.relieve(self.id)
    }

    pub(crate) fn count_eviction(&self) {
        self.budget.evictions.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether `e` says the process ran out of descriptors or memory (an open or
/// map that eviction can make room for).
pub(crate) fn is_exhaustion(e: &crate::Error) -> bool {
    match e {
        crate::Error::Io { source, .. } => {
            matches!(source.raw_os_error(), Some(code) if code == EMFILE || code == ENFILE || code == ENOMEM)
        }
        _ => false,
    }
}

/// Whether `source`, the failure of operation `op`, is a file that could not
/// be opened for lack of descriptors or memory: `EMFILE` and `ENFILE` come
/// only from calls that make a descriptor, `ENOMEM` from an open (an `fsync`
/// may fail with it too, after a failed write-back, so elsewhere it is not
/// taken for one). A sync that fails so synced nothing.
pub(crate) fn is_exhaustion_opening(op: &str, source: &std::io::Error) -> bool {
    match source.raw_os_error() {
        Some(EMFILE | ENFILE) => true,
        Some(ENOMEM) => matches!(op, "open" | "create"),
        _ => false,
    }
}

// Linux errno values (the same on every Linux architecture).
const ENOMEM: i32 = 12;
const ENFILE: i32 = 23;
const EMFILE: i32 = 24;

/// Runs `op`, and while it fails for lack of descriptors or memory and
/// `relieve` could evict something, runs it again.
pub(crate) fn retrying<T>(
    mut relieve: impl FnMut() -> bool,
    mut op: impl FnMut() -> crate::Result<T>,
) -> crate::Result<T> {
    loop {
        match op() {
            Err(e) if is_exhaustion(&e) && relieve() => {}
            other => return other,
        }
    }
}
