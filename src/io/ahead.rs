//! Page-table entries of a [`ReadMap`](super::ReadMap) set up ahead of a
//! reader that goes through it in large sequential fetches (a consumer, a
//! full scan), on one background thread shared by the process.
//!
//! A `.log` file strata appended to sits in the page cache in small folios
//! (4 and 8 KiB: each 11.7 KB `write` gets its own), and mapping those into
//! a reader's page table costs the kernel work per page: a scan of
//! 108-byte records right after they were appended spends 17-20 ns a
//! record on its thread, against 10-12 once the pages are mapped
//! (`examples/read_loop.rs first`). Doing that work on the reading thread
//! in another form does not make it cheaper: with a C reader of such a
//! file, `MADV_POPULATE_READ` ahead of it in steps of 256 KiB to the whole
//! file, `MADV_SEQUENTIAL` and `MAP_POPULATE` cost within a few percent of
//! the page faults they replace, and `pread` into a reused buffer more.
//! Done on another core while the reader decodes the bytes before them, it
//! leaves the reader's path.
//!
//! So a read that hands out a large fetch ([`ReadMap::populate_ahead`](super::ReadMap::populate_ahead))
//! claims the map's next bytes, up to [`LEAD`] past the fetch, and queues
//! them here, at most once per [`LEAD`]` / 2` bytes read. A worker thread
//! (`strata-ahead`, one for the process, started by a claim when the
//! process may run on more than one core, stopped after [`IDLE`] with
//! nothing queued) populates each queued range in turn
//! (`madvise(MADV_POPULATE_READ)`, Linux 5.14+), [`STEP`] by step,
//! skipping steps the reader's latest fetch has passed. Point reads and
//! small fetches claim nothing.
//!
//! The worker helps only where a core is free for it. On a machine whose
//! cores are all busy it runs in the reader's time slices, and its work,
//! the same the reader would do, then costs the reader more than the
//! faults it saves (a criterion run at load 8-9: 15-34 ms against 15-22
//! for a first scan of 400,000 records). So a reader that finds the worker
//! more than half a [`LEAD`] behind it ([`lagging`]) claims nothing for
//! the next [`BACKOFF`] bytes, and the scan costs what it cost without it
//! (9.2-12.4 ms against 9.0-13.8 at load 5-6).
//!
//! Claims are per map, not per reader: only the reader furthest ahead in
//! a map claims (a reader behind it asks for bytes claimed already), and a
//! back-off holds for every reader of the map. That costs nothing a
//! reader would notice: the page-table entries are the process's, so the
//! pages the leading reader's claims (or its own faults) mapped stay mapped
//! for every later reader of the map. Measured (a scratch program, 128 MiB
//! appended and scanned in 1 MiB fetches, minor faults from
//! `/proc/thread-self/stat`, load 7 on 2 cores): a first scan took
//! 725-1,627 faults with population (2,050 without), a second scan of the
//! same map 0, and a reader started 20 ms behind a first one 0-48. Two
//! leading readers of two maps at once share the one worker and took
//! 1,259-1,833 faults each (2,049-2,050 without). A map let go (evicted,
//! grown, sealed) starts again with a new [`Progress`] and new claims.
//!
//! Population is advice only: it reads no byte into the program and makes
//! no reference to the mapping, and a page it has not reached is faulted in
//! by the reader as before, so what a read returns is the same whichever
//! thread maps a page. It never reaches past the published length a reader
//! was handed, so it touches only bytes the mmap contract keeps in place
//! (rules 1 and 2); even a file cut under it (outside the contract) makes
//! the `madvise` fail, not fault. A queued range holds its map (an `Arc`,
//! as a view of it does) until the worker is done with it, and is skipped
//! once it holds it alone (its segment let go of the map and no reader
//! holds a view); the queue is bounded ([`MAX_QUEUED`]), and a request that
//! finds it full is dropped.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use memmap2::MmapRaw;
use parking_lot::{Condvar, Mutex};

/// Bytes past the end of a fetch claimed for population.
pub const LEAD: usize = 4 << 20;
/// Fetches smaller than this queue nothing: point reads, and a tailing
/// reader's small fetches, whose pages fault in as cheaply as they are read.
pub const MIN_FETCH: usize = 256 << 10;
/// Ranges queued and not yet taken by the worker, at most.
pub const MAX_QUEUED: usize = 16;

/// How far population has got in one map, shared by the map's clones and
/// its queued ranges.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes from the start of the map claimed by readers' fetches.
    claimed: AtomicUsize,
    /// The end of the last range the worker was done with (populated, or
    /// refused by the kernel).
    populated: AtomicUsize,
    /// The start of the latest large fetch of the map: the worker skips
    /// what lies below it (a reader it could not keep ahead of, on a
    /// machine without a free core, has faulted those pages in already).
    reader: AtomicUsize,
    /// No claim is made for fetches starting below this: set when the
    /// worker was found behind the reader (see [`lagging`]).
    resume_at: AtomicUsize,
    /// Steps the kernel refused to populate (an old kernel, memory
    /// pressure, a file cut under the map): `populated` passes them all
    /// the same, since the worker is done with them.
    refused: AtomicUsize,
}

impl Progress {
    /// Bytes from the start of the map claimed for population so far.
    pub fn claimed(&self) -> usize {
        self.claimed.load(Ordering::Acquire)
    }

    /// The end of the last range of the map the worker was done with
    /// (populated, or refused by the kernel); 0 before the first.
    pub fn populated(&self) -> usize {
        self.populated.load(Ordering::Acquire)
    }

    /// Steps of [`STEP`] bytes of the map the kernel refused to populate:
    /// their pages are faulted in by the reader instead.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::Acquire)
    }
}

/// A range of a map to populate.
struct Job {
    raw: Arc<MmapRaw>,
    progress: Arc<Progress>,
    start: usize,
    len: usize,
}

/// The queue and whether a worker runs to take from it (changed only
/// under the lock, so a queued range always has a worker coming for it).
struct Queue {
    jobs: VecDeque<Job>,
    worker: bool,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue { jobs: VecDeque::new(), worker: false });
static WAKE: Condvar = Condvar::new();
/// Cleared when the kernel refuses a population as unsupported, or by
/// [`set_enabled`]: nothing is claimed while it is clear.
static ENABLED: AtomicBool = AtomicBool::new(true);
/// Workers started since the process began (for tests and profiles).
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// A worker with nothing queued for this long stops; the next claim starts
/// another.
pub const IDLE: Duration = Duration::from_secs(2);

/// Turns population ahead of readers on or off for the whole process (on
/// by default): for profiles that compare the two (`examples/read_loop.rs
/// first`). Off, reads return exactly what they return on.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Release);
}

/// Whether a large fetch claims and queues anything: population is
/// enabled, the kernel is Linux and the process may run on more than one
/// core (asked once).
pub fn available() -> bool {
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from));
    ENABLED.load(Ordering::Acquire) && cfg!(target_os = "linux") && cores > 1
}

/// How many worker threads have been started since the process began (one
/// at a time runs; an idle one stops after [`IDLE`]).
pub fn workers_started() -> usize {
    STARTED.load(Ordering::Acquire)
}

/// The worker's loop: takes queued ranges in order and populates them;
/// stops once nothing was queued for [`IDLE`].
fn work() {
    loop {
        let job = {
            let mut queue = QUEUE.lock();
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                if WAKE.wait_for(&mut queue, IDLE).timed_out() && queue.jobs.is_empty() {
                    queue.worker = false;
                    return;
                }
            }
        };
        populate(&job);
    }
}

/// Starts the worker that [`claim`] marked as running (`queue.worker` set
/// under the lock), after the lock is released: a thread's start may take
/// milliseconds on a loaded machine, and no claim of the process waits on
/// it. A spawn that fails clears the mark and drops what was queued
/// meanwhile (advice only: the readers fault those pages in themselves),
/// so the next claim tries again.
fn start_worker() {
    let spawned =
        std::thread::Builder::new().name("strata-ahead".into()).stack_size(64 << 10).spawn(work);
    if spawned.is_ok() {
        STARTED.fetch_add(1, Ordering::AcqRel);
        return;
    }
    let mut queue = QUEUE.lock();
    queue.worker = false;
    let dropped = std::mem::take(&mut queue.jobs);
    drop(queue);
    drop(dropped); // each may hold the last reference to its map: unmapped outside the lock
}

/// Bytes the worker populates with one `madvise`, checking between them
/// where the reader is.
pub const STEP: usize = 512 << 10;

/// Populates `job`'s range [`STEP`] by step, skipping the steps that lie
/// below the start of the reader's latest fetch.
fn populate(job: &Job) {
    #[cfg(not(target_os = "linux"))]
    let _ = &job.raw; // never queued elsewhere: `available` is false
    let end = job.start.saturating_add(job.len);
    let mut at = job.start;
    while at < end {
        // The job holds the map alone: its segment let go of it (evicted by
        // the budget, closed, retired) and no reader holds a view of it.
        // Populating it would map pages no one reads, outside the budget.
        if Arc::strong_count(&job.raw) == 1 {
            break;
        }
        let to = at.saturating_add(STEP).min(end);
        if to > job.progress.reader.load(Ordering::Acquire) {
            #[cfg(target_os = "linux")]
            match job.raw.advise_range(memmap2::Advice::PopulateRead, at, to - at) {
                Ok(()) => {}
                // EINVAL: a kernel before 5.14, which does not know the advice.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    job.progress.refused.fetch_add(1, Ordering::AcqRel);
                    job.progress.populated.fetch_max(end, Ordering::AcqRel);
                    set_enabled(false);
                    break;
                }
                // Anything else (memory pressure, a file cut under the map)
                // leaves the rest to the reader's own faults.
                Err(_) => {
                    job.progress.refused.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
        at = to;
        job.progress.populated.fetch_max(to, Ordering::AcqRel);
    }
}

/// The range a fetch of bytes `[start, end)` claims for population, in a
/// map whose claimed range reaches `claimed` and whose published bytes end
/// at `limit`: up to [`LEAD`] past the fetch (never past `limit`), from
/// the claimed range's end or the fetch's start, whichever is later (bytes
/// below the fetch were read already, or skipped). `None` for a small fetch
/// ([`MIN_FETCH`]), and while the claimed range reaches [`LEAD`]` / 2` past
/// the fetch, so a sequential reader claims once per half [`LEAD`] read.
pub fn plan(claimed: usize, start: usize, end: usize, limit: usize) -> Option<Range<usize>> {
    if end.saturating_sub(start) < MIN_FETCH {
        return None;
    }
    if claimed >= end.saturating_add(LEAD / 2).min(limit) {
        return None;
    }
    let to = end.saturating_add(LEAD).min(limit);
    let from = claimed.max(start);
    (from < to).then_some(from..to)
}

/// Bytes a reader reads without claims once the worker was found behind
/// it ([`lagging`]).
pub const BACKOFF: usize = 16 << 20;

/// Whether the worker is behind a reader whose fetch starts at `start`: it
/// was asked for the bytes there (`claimed` reaches past them) and has not
/// populated them yet (`populated`), by more than half a [`LEAD`] (the
/// first fetches of a scan may find it waking up). With a core free it populates about
/// twice as fast as a scan reads, so it is behind only when the machine has
/// no core to give it, or when it serves several leading readers at once
/// (one worker, one queue, first come first served); its work then slows
/// the reader down instead (it competes for the same cores), and claims
/// stop for [`BACKOFF`] bytes of this map.
pub fn lagging(claimed: usize, populated: usize, start: usize) -> bool {
    claimed > start && populated.saturating_add(LEAD / 2) < start
}

/// Claims for a fetch of bytes `[start, end)` of `raw`, whose published
/// bytes end at `limit`, what [`plan`] says, and queues it for the worker
/// (started if none runs); nothing unless [`available`]. A claim that
/// finds the queue full, or no thread to start, is dropped: the reader
/// faults those pages in itself.
pub(super) fn claim(
    raw: &Arc<MmapRaw>,
    progress: &Arc<Progress>,
    start: usize,
    end: usize,
    limit: usize,
) {
    if end.saturating_sub(start) < MIN_FETCH {
        return;
    }
    progress.reader.fetch_max(start, Ordering::AcqRel);
    let claimed = progress.claimed();
    if start < progress.resume_at.load(Ordering::Acquire) {
        return;
    }
    if lagging(claimed, progress.populated(), start) {
        // No core to spare now: the worker's work only competes with the
        // reader's. Try again a while on.
        progress.resume_at.fetch_max(start.saturating_add(BACKOFF), Ordering::AcqRel);
        return;
    }
    let Some(range) = plan(claimed, start, end, limit) else { return };
    if !available() {
        return;
    }
    let taken =
        progress.claimed.compare_exchange(claimed, range.end, Ordering::AcqRel, Ordering::Acquire);
    if taken.is_err() {
        return; // another reader of the map claimed meanwhile
    }
    let job = Job {
        raw: Arc::clone(raw),
        progress: Arc::clone(progress),
        start: range.start,
        len: range.len(),
    };
    let mut queue = QUEUE.lock();
    // A full queue: the reader faults the pages in itself.
    if queue.jobs.len() >= MAX_QUEUED {
        return;
    }
    queue.jobs.push_back(job);
    let start = !std::mem::replace(&mut queue.worker, true);
    drop(queue);
    if start {
        start_worker();
    } else {
        WAKE.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::ReadMap;
    use proptest::prelude::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn a_fetch_claims_the_lead_past_it_and_the_next_claim_waits_for_half_of_it() {
        let limit = 12 * MIB;
        assert_eq!(plan(0, 0, MIN_FETCH - 1, limit), None, "a small fetch claims nothing");
        assert_eq!(plan(0, 0, MIB, limit), Some(0..MIB + LEAD));
        // Fetches while the claim reaches half the lead past them claim nothing.
        assert_eq!(plan(MIB + LEAD, MIB, 2 * MIB, limit), None);
        assert_eq!(plan(MIB + LEAD, 2 * MIB, 3 * MIB, limit), None);
        assert_eq!(plan(MIB + LEAD, 3 * MIB, 4 * MIB, limit), Some(MIB + LEAD..4 * MIB + LEAD));
        // Never past the published bytes, and nothing once they are claimed.
        assert_eq!(plan(9 * MIB, 9 * MIB, 10 * MIB, limit), Some(9 * MIB..limit));
        assert_eq!(plan(limit, 10 * MIB, 11 * MIB, limit), None);
        // A reader far past the claim starts its own claim at its fetch.
        assert_eq!(plan(MIB, 8 * MIB, 9 * MIB, limit), Some(8 * MIB..limit));
    }

    #[test]
    fn the_worker_lags_only_when_it_is_half_a_lead_behind_a_claimed_fetch() {
        assert!(!lagging(0, 0, 0), "nothing claimed yet");
        assert!(!lagging(5 * MIB, 0, 0), "the first fetch of a claim");
        assert!(!lagging(5 * MIB, MIB, MIB), "populated up to the fetch");
        assert!(!lagging(5 * MIB, 0, LEAD / 2), "half a lead behind: waking up");
        assert!(lagging(5 * MIB, 0, LEAD / 2 + 1), "claimed, not populated");
        assert!(lagging(9 * MIB, MIB, MIB + LEAD / 2 + 1), "claimed, not populated");
        assert!(!lagging(5 * MIB, 0, 6 * MIB), "a fetch past every claim");
    }

    proptest! {
        /// A reader going through a map in fetches of one size (the last
        /// one cut at the published end) has every byte from its first
        /// fetch to the end claimed exactly once, in order, never past the
        /// end; after each fetch the claim reaches half the lead past it;
        /// and it claims at most once per half lead read, plus the first.
        #[test]
        fn a_sequential_reader_claims_each_byte_once_and_stays_half_a_lead_ahead(
            first in 0usize..(8 * MIB),
            fetch in MIN_FETCH..(6 * MIB),
            len in 0usize..(64 * MIB),
            already in 0usize..(16 * MIB),
        ) {
            let limit = first + len;
            let mut claimed = already.min(first);
            let mut claims = Vec::new();
            let mut start = first;
            while start < limit {
                let end = (start + fetch).min(limit);
                if let Some(r) = plan(claimed, start, end, limit) {
                    prop_assert!(r.start >= claimed && r.start >= start && r.end <= limit);
                    claims.push(r.clone());
                    claimed = r.end;
                }
                if end - start >= MIN_FETCH {
                    prop_assert!(claimed >= (end + LEAD / 2).min(limit));
                }
                start = end;
            }
            let mut at = first;
            for r in &claims {
                prop_assert_eq!(r.start, at, "claims {:?}", claims);
                at = r.end;
            }
            if len >= MIN_FETCH {
                prop_assert_eq!(at, limit);
            }
            prop_assert!(claims.len() <= 1 + len / (LEAD / 2));
        }
    }

    /// Resident pages of the mapping that starts at `addr`, by
    /// `/proc/self/smaps` (pages the page table maps), or `None` where
    /// that cannot be read.
    fn mapped_bytes(addr: usize) -> Option<usize> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let head = format!("{addr:x}-");
        let block = smaps.split_once(&*head)?.1;
        let rss = block.lines().find_map(|l| l.strip_prefix("Rss:"))?;
        let kib: usize = rss.trim().strip_suffix("kB")?.trim().parse().ok()?;
        Some(kib * 1024)
    }

    #[test]
    fn a_job_that_holds_its_map_alone_is_skipped_and_one_whose_map_is_held_is_populated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 2 * MIB]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let job = |raw: &Arc<MmapRaw>| Job {
            raw: Arc::clone(raw),
            progress: Arc::new(Progress::default()),
            start: 0,
            len: 2 * MIB,
        };
        let raw =
            Arc::new(memmap2::MmapOptions::new().len(2 * MIB).map_raw_read_only(&file).unwrap());
        // The segment still holds its map: the job runs to its end.
        let held = job(&raw);
        populate(&held);
        assert_eq!(held.progress.populated(), 2 * MIB);
        drop(held);
        // The segment let go of it (evicted, closed): nothing is done.
        let alone = job(&raw);
        drop(raw);
        populate(&alone);
        assert_eq!(alone.progress.populated(), 0);
    }

    /// A map twice as long as its file (as the active segment's is), and
    /// a job over its second half, past the end of the file.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_population_the_kernel_refuses_is_counted_as_refused_and_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; MIB]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let raw =
            Arc::new(memmap2::MmapOptions::new().len(2 * MIB).map_raw_read_only(&file).unwrap());
        let past_the_file =
            Job { raw: Arc::clone(&raw), progress: Arc::default(), start: MIB, len: MIB };
        populate(&past_the_file);
        // EFAULT for pages past the end of the file (EINVAL before Linux
        // 5.14, which stops at the first step): never a fault in the worker.
        assert!(past_the_file.progress.refused() >= 1);
        assert_eq!(past_the_file.progress.populated(), 2 * MIB, "the worker is done with it");
        let held = Job { raw: Arc::clone(&raw), progress: Arc::default(), start: 0, len: MIB };
        populate(&held);
        if available() {
            assert_eq!(held.progress.refused(), 0, "the file's own pages are populated");
            assert_eq!(held.progress.populated(), MIB);
        }
    }

    #[test]
    fn the_worker_maps_the_pages_a_large_fetch_claims_and_no_others() {
        if !available() {
            println!(
                "skipped: no populating worker here (one core, not Linux, or the kernel \
                 refused MADV_POPULATE_READ: Linux before 5.14)"
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let len = 16 * MIB;
        std::fs::write(&path, vec![7u8; len]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // Mapped longer than the file, as the active segment is.
        let map = ReadMap::map(&file, &path, 32 * MIB as u64).unwrap();
        let addr = map.bytes(0, 1, len).as_ptr() as usize;
        let Some(before) = mapped_bytes(addr) else {
            println!("skipped: /proc/self/smaps does not show the map");
            return;
        };
        assert_eq!(before, 0, "nothing is read, so nothing is mapped yet");
        map.populate_ahead(0, MIN_FETCH - 1, len);
        assert_eq!(map.ahead_progress().claimed(), 0, "a small fetch claims nothing");
        // The claim is taken at once; the worker maps it in its time (a
        // claim dropped by a full queue, other tests' work, is not made
        // again: the reader would fault those pages in itself).
        map.populate_ahead(0, MIB, len);
        let want = MIB + LEAD;
        assert_eq!(map.ahead_progress().claimed(), want);
        assert!(workers_started() >= 1, "the claim starts a worker");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let progress = map.ahead_progress();
        while progress.populated() < want
            && progress.refused() == 0
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if progress.refused() > 0 {
            // Review 5 F4: a refused step is counted as done, its pages not mapped.
            println!(
                "skipped: the kernel refused MADV_POPULATE_READ for {} steps (Linux before \
                 5.14, or memory pressure)",
                progress.refused()
            );
            return;
        }
        if progress.populated() < want {
            println!("skipped: the queue was full (other tests' fetches)");
            return;
        }
        // Whole folios are mapped (up to 2 MiB each for a file written in
        // one go), so a little more than the claim, and far from all of it.
        let mapped = mapped_bytes(addr).unwrap();
        assert!(
            mapped >= want && mapped <= want.next_multiple_of(2 * MIB),
            "{mapped} bytes mapped for a claim of {want} (of {len})"
        );
    }
}
