//! Setting up a [`ReadMap`]'s page-table entries ahead of a reader that
//! goes through it once from start to end (recovery's scan of a segment),
//! on a second thread where the machine has a core for it.
//!
//! Mapping a file the page cache holds in small folios (as 11.7 KB appends
//! leave it) costs the kernel about 95 ms of CPU a GiB, twice what checking
//! the bytes' CRCs costs. Done on the reading thread, the two add up; done
//! by a helper thread a few chunks ahead, they overlap. Since the reader
//! also populates the chunks the helper has not reached, the two threads
//! share the work, and with two cores free recovery's wall time falls to
//! about half its CPU (a 1 GiB segment: 82-84 ms against 164-167 ms on one
//! thread, `examples/recovery_profile.rs`). The total CPU does not fall.
//!
//! The work is cut into [`CHUNK`]s that either thread claims (one atomic
//! counter), so each chunk is populated once:
//! - the reader, at every position it reaches, claims and populates the
//!   chunks nobody has claimed up to [`AHEAD`] past it, exactly as a
//!   reader alone does; with no helper (a small map, one core, or a spawn
//!   that failed) that is all there is;
//! - the helper claims the next chunk while it is at most [`MAX_LEAD`]
//!   chunks ahead of the reader, else parks until the reader has used up
//!   half that lead (one wake per `MAX_LEAD / 2` chunks, not per chunk).
//!
//! Population is advice only ([`ReadMap::populate_read`]): it reads no
//! byte into the program and changes nothing a read returns, so what the
//! reader computes is the same with or without the helper, whichever thread
//! wins each chunk. The helper is a scoped thread: [`read_ahead`] returns
//! only after it has stopped, which it does when the reader's closure
//! returns (at the end, at a cut, at an error) or unwinds, or when every
//! chunk is claimed. It uses the reader's map: no other map or descriptor.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::Thread;

use super::mmap::ReadMap;

/// Bytes populated at a time by either thread (one `madvise` call).
pub const CHUNK: usize = 2 << 20;
/// How far past the reader's position the populated (or claimed) range
/// reaches before the reader claims more itself.
pub const AHEAD: usize = 1 << 20;
/// Chunks the helper may run ahead of the chunk the reader is in: enough to
/// absorb the helper's scheduling delays, few enough that pages a cold file
/// reads from disk are not evicted before the reader gets there.
pub const MAX_LEAD: usize = 16;
/// Maps shorter than this are populated by the reader alone: a thread's
/// start costs about as much as populating a chunk or two.
pub const MIN_HELPED_LEN: usize = 8 * CHUNK;

/// Helper threads started since the process began (for tests and profiles).
static STARTED: AtomicUsize = AtomicUsize::new(0);
/// Helper threads running now.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// How many helper threads [`read_ahead`] has started since the process
/// began: a reader of a map of [`MIN_HELPED_LEN`] or more on a machine with
/// more than one core starts one.
pub fn helpers_started() -> usize {
    STARTED.load(Ordering::Acquire)
}

/// How many helper threads are running now: 0 whenever no [`read_ahead`]
/// is in progress (each returns only after its helper has stopped).
pub fn helpers_running() -> usize {
    RUNNING.load(Ordering::Acquire)
}

/// Counts a helper as running from before its spawn until it is dropped
/// (at the end of the helper's thread, or at once if the spawn failed).
struct Running;

impl Running {
    fn start() -> Running {
        RUNNING.fetch_add(1, Ordering::AcqRel);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the two threads share.
#[derive(Default)]
struct Shared {
    /// Chunks claimed from the start of the map: chunk `i` covers
    /// `[i * CHUNK, (i + 1) * CHUNK)`.
    claimed: AtomicUsize,
    /// The chunk holding the reader's position.
    reading: AtomicUsize,
    /// Set when the reader is done: the helper claims nothing more.
    stop: AtomicBool,
    /// Chunks the helper populated (for tests and profiles).
    helped: AtomicUsize,
    /// Times the reader woke the helper as it moved on (for tests).
    wakes: AtomicUsize,
}

impl Shared {
    /// Claims chunk `at` if it is still the next unclaimed one.
    fn claim(&self, at: usize) -> bool {
        self.claimed.compare_exchange(at, at + 1, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

/// The reader's side: tells the helper where the reader is and populates
/// what the helper has not reached. Given to the closure of [`read_ahead`].
pub struct Ahead<'a> {
    map: &'a ReadMap,
    /// Bytes of the map read (the file's length; the map may be longer).
    len: usize,
    shared: &'a Shared,
    /// The helper, to wake when the reader moves to a new chunk.
    helper: Option<Thread>,
    /// The next position at which [`Ahead::reached`] has work to do.
    next_check: usize,
}

impl Ahead<'_> {
    /// The reader has read up to `pos` and reads on from there. Cheap
    /// (one comparison) except at most twice a chunk.
    #[inline]
    pub fn reached(&mut self, pos: usize) {
        if pos >= self.next_check {
            self.advance(pos);
        }
    }

    fn advance(&mut self, pos: usize) {
        let chunk = pos / CHUNK;
        if let Some(helper) = &self.helper
            && self.shared.reading.load(Ordering::Relaxed) != chunk
        {
            self.shared.reading.store(chunk, Ordering::Release);
            // Woken only once its lead has fallen to half of `MAX_LEAD`: a
            // helper faster than the reader parks at every chunk the reader
            // enters, and each wake of a parked thread is a `futex` call (in
            // a VM an interrupt to the other core) on the reader's thread.
            // Woken at every chunk, that was 6% of the reader's samples
            // under `perf` (Intel Xeon, a 1 GiB segment). A helper left
            // parked costs nothing: the reader populates what it has not.
            if self.shared.claimed.load(Ordering::Acquire) <= chunk.saturating_add(MAX_LEAD / 2) {
                self.shared.wakes.fetch_add(1, Ordering::Relaxed);
                helper.unpark();
            }
        }
        let want = pos.saturating_add(AHEAD).min(self.len);
        let mut frontier;
        loop {
            let claimed = self.shared.claimed.load(Ordering::Acquire);
            frontier = claimed.saturating_mul(CHUNK);
            if frontier >= want {
                break;
            }
            if self.shared.claim(claimed) {
                self.map.populate_read(frontier, CHUNK.min(self.len - frontier));
            }
        }
        // Next: where the reader enters the next chunk, or where the claimed
        // range stops reaching `AHEAD` past it, whichever comes first.
        let next_chunk = chunk.saturating_add(1).saturating_mul(CHUNK);
        let next = next_chunk.min(frontier.saturating_sub(AHEAD));
        self.next_check = next.max(pos.saturating_add(1));
    }

    /// Chunks the helper thread populated so far (0 without one).
    pub fn helped_chunks(&self) -> usize {
        self.shared.helped.load(Ordering::Acquire)
    }

    /// Whether a helper thread runs beside the reader.
    pub fn has_helper(&self) -> bool {
        self.helper.is_some()
    }
}

impl Drop for Ahead<'_> {
    /// The reader is done (returned, or unwinding): the helper stops.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(helper) = &self.helper {
            helper.unpark();
        }
    }
}

/// The helper's loop: claims and populates chunks while it is not too far
/// ahead of the reader, until every chunk is claimed or the reader is done.
fn help(map: &ReadMap, len: usize, shared: &Shared) {
    let chunks = len.div_ceil(CHUNK);
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let claimed = shared.claimed.load(Ordering::Acquire);
        if claimed >= chunks {
            return;
        }
        if claimed > shared.reading.load(Ordering::Acquire).saturating_add(MAX_LEAD) {
            // Woken when the reader enters a new chunk or stops (an unpark
            // before this park makes it return at once).
            std::thread::park();
            continue;
        }
        if shared.claim(claimed) {
            let start = claimed.saturating_mul(CHUNK);
            map.populate_read(start, CHUNK.min(len.saturating_sub(start)));
            shared.helped.fetch_add(1, Ordering::Release);
        }
    }
}

/// Whether the machine gives this process more than one CPU (asked once).
fn spare_core() -> bool {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from)) > 1
}

/// Runs `read`, a reader of `map`'s first `len` bytes from start to end,
/// with the map's page-table entries populated ahead of it: by a helper
/// thread when `len` is at least [`MIN_HELPED_LEN`] and the machine has
/// more than one core, and always by the reader for what the helper has
/// not reached. The reader reports its progress with [`Ahead::reached`].
/// Returns what `read` returns, after the helper has stopped.
pub fn read_ahead<R>(map: &ReadMap, len: usize, read: impl FnOnce(&mut Ahead<'_>) -> R) -> R {
    let len = len.min(map.len());
    let shared = &Shared::default();
    let alone = |helper: Option<Thread>| Ahead { map, len, shared, helper, next_check: 0 };
    if len < MIN_HELPED_LEN || !spare_core() {
        return read(&mut alone(None));
    }
    std::thread::scope(|s| {
        let running = Running::start();
        let spawned = std::thread::Builder::new()
            .name("strata-populate".into())
            .stack_size(64 << 10)
            .spawn_scoped(s, move || {
                let _running = running;
                help(map, len, shared);
            });
        // A failed spawn (no threads left) leaves the reader alone; the
        // closure it was not given is dropped, and `running` with it.
        let helper = spawned.ok().map(|h| h.thread().clone());
        if helper.is_some() {
            STARTED.fetch_add(1, Ordering::AcqRel);
        }
        // Dropped before the scope joins the helper, also on unwinding: the
        // helper sees `stop` and returns.
        let mut ahead = alone(helper);
        read(&mut ahead)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_of(len: usize) -> (tempfile::TempDir, ReadMap) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; len]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let map = ReadMap::map(&file, &path, len as u64).unwrap();
        (dir, map)
    }

    /// [`map_of`] for a test of the helper thread, `None` (the skip said)
    /// on a machine with one core, where no helper starts.
    fn helped_map_of(len: usize) -> Option<(tempfile::TempDir, ReadMap)> {
        if !spare_core() {
            println!("skipped: one core, so no helper thread starts");
            return None;
        }
        Some(map_of(len))
    }

    #[test]
    fn a_reader_alone_claims_every_chunk_ahead_of_it_and_no_more() {
        let (_dir, map) = map_of(3 * CHUNK + 100);
        let claimed = read_ahead(&map, 3 * CHUNK + 100, |a| {
            assert!(!a.has_helper(), "a map under MIN_HELPED_LEN gets no helper");
            a.reached(0);
            assert_eq!(a.shared.claimed.load(Ordering::Acquire), 1);
            a.reached(CHUNK - AHEAD);
            assert_eq!(a.shared.claimed.load(Ordering::Acquire), 1, "exactly AHEAD past it");
            a.reached(CHUNK - AHEAD + 1);
            assert_eq!(a.shared.claimed.load(Ordering::Acquire), 2);
            a.reached(3 * CHUNK + 100);
            a.shared.claimed.load(Ordering::Acquire)
        });
        assert_eq!(claimed, 4, "the last, partial chunk is claimed too");
    }

    #[test]
    fn a_helper_populates_chunks_and_stops_when_every_chunk_is_claimed() {
        let len = MIN_HELPED_LEN + CHUNK / 2;
        let Some((_dir, map)) = helped_map_of(len) else { return };
        let (claimed, helped) = read_ahead(&map, len, |a| {
            assert!(a.has_helper());
            let mut pos = 0;
            while pos < len {
                a.reached(pos);
                pos += 4096;
            }
            a.reached(len);
            // The helper may still be inside its last chunk's populate.
            (a.shared.claimed.load(Ordering::Acquire), a.helped_chunks())
        });
        assert_eq!(claimed, len.div_ceil(CHUNK));
        assert!(helped <= claimed);
    }

    /// Waits (at most 30 s) until `claimed` chunks are claimed.
    fn until_claimed(a: &Ahead<'_>, claimed: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while a.shared.claimed.load(Ordering::Acquire) < claimed {
            assert!(std::time::Instant::now() < deadline, "the helper never reached {claimed}");
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_reader_wakes_its_helper_only_once_the_helpers_lead_has_halved() {
        let len = 40 * CHUNK;
        let Some((_dir, map)) = helped_map_of(len) else { return };
        let (before, after) = read_ahead(&map, len, |a| {
            a.reached(0);
            // The helper runs MAX_LEAD chunks past the reader's chunk, then parks.
            until_claimed(a, MAX_LEAD + 1);
            for chunk in 1..=MAX_LEAD / 2 {
                a.reached(chunk * CHUNK);
            }
            let before = a.shared.wakes.load(Ordering::Relaxed);
            // Where the lead is half gone: woken (the helper claimed at least
            // MAX_LEAD + 1, more only if its park returned spuriously).
            let at = a.shared.claimed.load(Ordering::Acquire) - MAX_LEAD / 2;
            a.reached(at * CHUNK);
            until_claimed(a, at + MAX_LEAD + 1);
            (before, a.shared.wakes.load(Ordering::Relaxed))
        });
        assert_eq!(before, 0, "woken while it was still far enough ahead");
        assert_eq!(after, 1, "woken once its lead had halved");
    }

    /// Runs `f` on a thread of its own and fails, rather than hangs, if it
    /// does not return within 30 s (a helper never told to stop).
    fn within_30s<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(f()));
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .expect("read_ahead did not return: its helper was not stopped")
    }

    #[test]
    fn a_reader_that_stops_early_or_panics_stops_the_helper() {
        let len = 40 * CHUNK;
        let Some((dir, map)) = helped_map_of(len) else { return };
        let map = std::sync::Arc::new(map);
        // The reader stops at once: the helper, which may run at most
        // MAX_LEAD chunks ahead, parks there and is woken by the stop.
        let m = std::sync::Arc::clone(&map);
        let claimed = within_30s(move || {
            read_ahead(&m, len, |a| {
                a.reached(0);
                std::thread::sleep(std::time::Duration::from_millis(50));
                a.shared.claimed.load(Ordering::Acquire)
            })
        });
        assert!(claimed <= MAX_LEAD + 2, "the helper ran {claimed} chunks ahead");
        let unwound = within_30s(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                read_ahead(&map, len, |a| {
                    a.reached(0);
                    panic!("the reader failed");
                })
            }))
            .is_err()
        });
        assert!(unwound, "the panic reaches the caller once the helper stopped");
        drop(dir);
    }
}
