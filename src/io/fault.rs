//! Fault injection for tests: make the Nth write fail, every fsync fail, or a
//! named step of a crash protocol fail.
//!
//! Off by default. When no plan is armed anywhere in the process, a check is
//! one relaxed atomic load. A plan is armed by [`arm`] for the calling thread
//! only and lasts as long as the returned [`FaultGuard`], so tests running in
//! parallel never see each other's faults:
//!
//! ```
//! use strata::internals::io::fault::{self, FaultPlan, Op};
//!
//! let guard = fault::arm(FaultPlan::new().fail_nth(Op::Write, 2).fail_point("swap::after_rename"));
//! assert!(fault::check(Op::Write, "a.log".as_ref()).is_ok());
//! assert!(fault::check(Op::Write, "a.log".as_ref()).is_err()); // the 2nd write
//! assert!(fault::point("swap::after_rename").is_err());
//! assert_eq!(guard.calls(Op::Write), 2);
//! drop(guard);
//! assert!(fault::point("swap::after_rename").is_ok());
//! ```
//!
//! An injected failure is a `std::io::Error` of kind `Other` whose message
//! starts with `injected fault: `, wrapped like a real one in
//! [`crate::Error::Io`].
//!
//! [`observe`] is the other half of the gate: a callback, also per thread,
//! told of every operation that *completed* (with its path, and for a rename
//! its target), so a test can record the writes, syncs, creates, renames and
//! removes strata issues and build the states a power cut could leave.
//!
//! [`limit`] answers a size bound of the crate (the longest producer
//! snapshot), which a plan may lower ([`FaultPlan::lower_limit`]) so a test
//! reaches it with a few entries instead of millions.
//!
//! [`slow_syncs`] is the one process-wide knob: every fsync of a file,
//! directory or mapping, on any thread, sleeps first, as on a slow or busy
//! disk (for tests of background threads that fall behind, in a child
//! process of their own).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::{Error, Result};

/// Kinds of file operation the gate in [`crate::io::file`] and
/// [`crate::io::mmap`] counts and can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// Opening or creating a file.
    Open,
    /// Writing to a file (including writes through an index mapping).
    Write,
    /// Reading from a file.
    Read,
    /// `fsync`/`fdatasync` of a file, or `msync` of a mapping.
    Sync,
    /// `fsync` of a directory.
    SyncDir,
    /// Changing a file's length.
    SetLen,
    /// Renaming a file.
    Rename,
    /// Removing a file or a directory tree.
    Remove,
    /// Creating a directory.
    CreateDir,
    /// Listing a directory.
    ReadDir,
    /// Reading a file's length or existence.
    Metadata,
    /// Creating a memory mapping.
    Map,
    /// Taking a lock file.
    Lock,
    /// Giving a file real blocks (`fallocate`).
    Allocate,
    /// Asking for a file system's free space.
    FreeSpace,
}

/// What to fail while a [`FaultGuard`] lives. Rules combine: a call fails if
/// any rule says so.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    nth: HashMap<Op, HashSet<u64>>,
    every: HashSet<Op>,
    from_nth: HashMap<Op, u64>,
    points: HashSet<String>,
    trace: bool,
    os_errors: HashMap<Op, i32>,
    limits: HashMap<String, u64>,
}

impl FaultPlan {
    /// A plan that fails nothing but still counts calls (see
    /// [`FaultGuard::calls`]), to learn how many faults a test can inject.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Fails the `n`th call (1-based) of `op`, and only that one.
    #[must_use]
    pub fn fail_nth(mut self, op: Op, n: u64) -> Self {
        self.nth.entry(op).or_default().insert(n);
        self
    }

    /// Fails every call of `op`.
    #[must_use]
    pub fn fail_every(mut self, op: Op) -> Self {
        self.every.insert(op);
        self
    }

    /// Fails the `n`th call (1-based) of `op` and every later one, as a disk
    /// that stays broken would.
    #[must_use]
    pub fn fail_from_nth(mut self, op: Op, n: u64) -> Self {
        self.from_nth.insert(op, n);
        self
    }

    /// Records every gated operation with its path, for [`FaultGuard::trace`]
    /// (tests of the order of creates, writes and directory fsyncs).
    #[must_use]
    pub fn trace(mut self) -> Self {
        self.trace = true;
        self
    }

    /// Injected failures of `op` carry the OS error `code` (e.g.
    /// `libc::ENOSPC`) instead of the default kind `Other`.
    #[must_use]
    pub fn os_error(mut self, op: Op, code: i32) -> Self {
        self.os_errors.insert(op, code);
        self
    }

    /// Makes [`point`]`(name)` fail.
    #[must_use]
    pub fn fail_point(mut self, name: impl Into<String>) -> Self {
        self.points.insert(name.into());
        self
    }

    /// Makes [`limit`]`(name, _)` answer `bytes`: a size bound that takes millions of
    /// entries to reach is reached by a test with a few. Names: `"producer snapshot"` (the
    /// longest `.snapshot` written or read, 1 GiB).
    #[must_use]
    pub fn lower_limit(mut self, name: impl Into<String>, bytes: u64) -> Self {
        self.limits.insert(name.into(), bytes);
        self
    }
}

/// The armed plan of one thread, with its call counts.
struct Armed {
    plan: FaultPlan,
    calls: HashMap<Op, u64>,
    injected: u64,
    trace: Vec<(Op, PathBuf)>,
}

/// Number of live guards in the process; zero means "skip the thread-local".
static ARMED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static PLAN: RefCell<Option<Armed>> = const { RefCell::new(None) };
}

/// Arms `plan` on the calling thread until the guard is dropped. Arming again
/// while a guard lives replaces the plan; dropping the inner guard restores
/// the outer one.
#[must_use = "the plan is disarmed when the guard is dropped"]
pub fn arm(plan: FaultPlan) -> FaultGuard {
    let armed = Armed { plan, calls: HashMap::new(), injected: 0, trace: Vec::new() };
    let previous = PLAN.with(|cell| cell.borrow_mut().replace(armed));
    ARMED.fetch_add(1, Ordering::SeqCst);
    FaultGuard { previous, _not_send: PhantomData }
}

/// Disarms its plan when dropped. Not `Send`: the plan belongs to the thread
/// that armed it.
pub struct FaultGuard {
    previous: Option<Armed>,
    _not_send: PhantomData<*const ()>,
}

impl FaultGuard {
    /// How many calls of `op` this thread made since the plan was armed
    /// (failed ones included).
    pub fn calls(&self, op: Op) -> u64 {
        PLAN.with(|cell| {
            cell.borrow().as_ref().and_then(|a| a.calls.get(&op).copied()).unwrap_or(0)
        })
    }

    /// The operations this thread passed through the gate, in order, with the
    /// path of each (empty unless the plan asked for [`FaultPlan::trace`]).
    pub fn trace(&self) -> Vec<(Op, PathBuf)> {
        PLAN.with(|cell| cell.borrow().as_ref().map(|a| a.trace.clone()).unwrap_or_default())
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> u64 {
        PLAN.with(|cell| cell.borrow().as_ref().map_or(0, |a| a.injected))
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        PLAN.with(|cell| *cell.borrow_mut() = previous);
        ARMED.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for FaultGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultGuard").finish_non_exhaustive()
    }
}

fn injected_error(what: &str) -> std::io::Error {
    std::io::Error::other(format!("injected fault: {what}"))
}

/// Nanoseconds every fsync sleeps before it runs, on every thread (0: none).
static SYNC_DELAY_NS: AtomicU64 = AtomicU64::new(0);

/// Makes every fsync of the process (files, directories, mappings, on every
/// thread) sleep `delay` before it runs, until the guard is dropped: a disk
/// whose syncs are slow. Process-wide, unlike a [`FaultPlan`]: meant for a
/// child process whose background threads a test wants to fall behind.
#[must_use = "syncs are fast again when the guard is dropped"]
pub fn slow_syncs(delay: std::time::Duration) -> SlowSyncs {
    let ns = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
    SlowSyncs { previous: SYNC_DELAY_NS.swap(ns, Ordering::SeqCst) }
}

/// Restores the previous sync delay when dropped.
#[derive(Debug)]
pub struct SlowSyncs {
    previous: u64,
}

impl Drop for SlowSyncs {
    fn drop(&mut self) {
        SYNC_DELAY_NS.store(self.previous, Ordering::SeqCst);
    }
}

/// Counts one call of `op` and fails it if the armed plan says so. Every
/// operation of [`crate::io`] calls this first.
#[inline]
pub fn check_io(op: Op) -> std::io::Result<()> {
    check_io_at(op, None)
}

/// [`check_io`] for an operation on `path`, which a tracing plan records.
#[inline]
pub fn check_io_at(op: Op, path: Option<&Path>) -> std::io::Result<()> {
    if matches!(op, Op::Sync | Op::SyncDir) {
        let ns = SYNC_DELAY_NS.load(Ordering::Relaxed);
        if ns != 0 {
            std::thread::sleep(std::time::Duration::from_nanos(ns));
        }
    }
    if ARMED.load(Ordering::Relaxed) == 0 {
        return Ok(());
    }
    PLAN.with(|cell| {
        let mut cell = cell.borrow_mut();
        let Some(armed) = cell.as_mut() else { return Ok(()) };
        if armed.plan.trace {
            armed.trace.push((op, path.map(Path::to_path_buf).unwrap_or_default()));
        }
        let count = armed.calls.entry(op).or_insert(0);
        *count += 1;
        let n = *count;
        let plan = &armed.plan;
        let fail = plan.every.contains(&op)
            || plan.nth.get(&op).is_some_and(|set| set.contains(&n))
            || plan.from_nth.get(&op).is_some_and(|&from| n >= from);
        if fail {
            armed.injected += 1;
            if let Some(&code) = plan.os_errors.get(&op) {
                return Err(std::io::Error::from_raw_os_error(code));
            }
            return Err(injected_error(&format!("{op:?} call #{n}")));
        }
        Ok(())
    })
}

/// [`check_io`] with the path the operation was on, as a crate error.
#[inline]
pub fn check(op: Op, path: &Path) -> Result<()> {
    watched(op, path);
    check_io_at(op, Some(path)).map_err(|e| Error::io(op_name(op), path, e))
}

/// What a [`Watch`] saw.
#[derive(Debug, Default)]
struct Seen {
    calls: HashMap<Op, u64>,
    /// Per file, its length when a sync of it last began: at least that
    /// prefix is durable once the sync returns.
    synced_len: HashMap<PathBuf, u64>,
}

#[derive(Debug)]
struct WatchInner {
    dir: PathBuf,
    seen: Mutex<Seen>,
}

/// Live watches; `WATCHING` is their count, so an unwatched check costs one load.
static WATCHES: Mutex<Vec<Arc<WatchInner>>> = Mutex::new(Vec::new());
static WATCHING: AtomicUsize = AtomicUsize::new(0);

/// Starts counting, from every thread, the operations on paths under `dir`
/// (the thread-local plans of [`arm`] cannot see a flusher thread's syncs),
/// and the length of each file when it was last synced. Counting stops when
/// the returned [`Watch`] is dropped.
#[must_use = "nothing is counted once the watch is dropped"]
pub fn watch(dir: &Path) -> Watch {
    let inner = Arc::new(WatchInner { dir: dir.to_path_buf(), seen: Mutex::default() });
    WATCHES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Arc::clone(&inner));
    WATCHING.fetch_add(1, Ordering::SeqCst);
    Watch { inner }
}

/// Counts operations under a directory from every thread; see [`watch`].
#[derive(Debug)]
pub struct Watch {
    inner: Arc<WatchInner>,
}

impl Watch {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.inner.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Calls of `op` on paths under the directory so far.
    pub fn calls(&self, op: Op) -> u64 {
        self.seen().calls.get(&op).copied().unwrap_or(0)
    }

    /// The length `path` had when its last sync began (0 if never synced):
    /// the prefix a power cut right now is sure to leave.
    pub fn synced_len(&self, path: &Path) -> u64 {
        self.seen().synced_len.get(path).copied().unwrap_or(0)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut all = WATCHES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.retain(|w| !Arc::ptr_eq(w, &self.inner));
        WATCHING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Tells the live watches about an operation on `path` (before it runs).
#[inline]
pub fn watched(op: Op, path: &Path) {
    if WATCHING.load(Ordering::Relaxed) == 0 {
        return;
    }
    let watches: Vec<_> = WATCHES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|w| path.starts_with(&w.dir))
        .cloned()
        .collect();
    for w in watches {
        let mut seen = w.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *seen.calls.entry(op).or_insert(0) += 1;
        if op == Op::Sync
            && let Ok(m) = std::fs::metadata(path)
        {
            let len = seen.synced_len.entry(path.to_path_buf()).or_insert(0);
            *len = (*len).max(m.len());
        }
    }
}

/// A named step of a multi-file protocol (`"swap::after_rename"`): fails when
/// the armed plan lists the name. The error's path is the point's name. A
/// hook set by [`on_point`] for the name runs here first.
#[inline]
pub fn point(name: &str) -> Result<()> {
    if HOOKED.load(Ordering::Relaxed) != 0 {
        run_hook(name);
    }
    if ARMED.load(Ordering::Relaxed) == 0 {
        return Ok(());
    }
    PLAN.with(|cell| {
        let mut cell = cell.borrow_mut();
        let Some(armed) = cell.as_mut() else { return Ok(()) };
        if armed.plan.points.contains(name) {
            armed.injected += 1;
            return Err(Error::io("fault point", name, injected_error(name)));
        }
        Ok(())
    })
}

/// The size bound named `name`: `default`, unless the armed plan lowered it
/// ([`FaultPlan::lower_limit`]). Every writer and reader of a bounded kind of
/// file asks here, so a lowered bound binds both alike.
#[inline]
pub fn limit(name: &str, default: u64) -> u64 {
    if ARMED.load(Ordering::Relaxed) == 0 {
        return default;
    }
    PLAN.with(|cell| {
        let cell = cell.borrow();
        cell.as_ref().and_then(|armed| armed.plan.limits.get(name).copied()).unwrap_or(default)
    })
}

type Hook = (String, Box<dyn FnOnce()>);

/// Number of live hooks in the process; zero means "skip the thread-local".
static HOOKED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Runs `f` once, on the calling thread, the first time that thread reaches
/// [`point`] `name` while the guard lives: a test stops an operation at a
/// named step and does something else in between (a swap between a reader's
/// snapshot of the segment list and its read, say), deterministically. `f`
/// is removed before it runs, so it may call back into strata, through the
/// same point too. Each point says, where it is taken, which locks the operation
/// holds there and so what the hook may do.
#[must_use = "the hook is removed when the guard is dropped"]
pub fn on_point(name: impl Into<String>, f: impl FnOnce() + 'static) -> HookGuard {
    let previous = HOOK.with(|cell| cell.borrow_mut().replace((name.into(), Box::new(f))));
    HOOKED.fetch_add(1, Ordering::SeqCst);
    HookGuard { previous, _not_send: PhantomData }
}

fn run_hook(name: &str) {
    let hook = HOOK.with(|cell| {
        let mut cell = cell.borrow_mut();
        match cell.as_ref() {
            Some((n, _)) if n == name => cell.take(),
            _ => None,
        }
    });
    if let Some((_, f)) = hook {
        f();
    }
}

/// Removes its hook when dropped, if it has not run (restoring an outer one).
pub struct HookGuard {
    previous: Option<Hook>,
    _not_send: PhantomData<*const ()>,
}

impl HookGuard {
    /// Whether the hook ran.
    pub fn ran(&self) -> bool {
        HOOK.with(|cell| cell.borrow().is_none())
    }
}

impl Drop for HookGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        HOOK.with(|cell| *cell.borrow_mut() = previous);
        HOOKED.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for HookGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookGuard").finish_non_exhaustive()
    }
}

/// A completed operation, as an observer sees it.
#[derive(Clone, Copy, Debug)]
pub struct Done<'a> {
    /// What was done.
    pub op: Op,
    /// The file or directory it was done to (for a rename, the old name).
    pub path: &'a Path,
    /// The new name of a rename.
    pub to: Option<&'a Path>,
}

type Observer = Box<dyn FnMut(Done<'_>)>;

/// Number of live observers in the process; zero means "skip the thread-local".
static OBSERVED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static OBSERVER: RefCell<Option<Observer>> = const { RefCell::new(None) };
}

/// Calls `f` after every operation of the calling thread that completes,
/// until the guard is dropped. The callback runs inside the operation's
/// caller, so it sees the file system exactly as the operation left it; it
/// must not call back into strata.
#[must_use = "the observer is removed when the guard is dropped"]
pub fn observe(f: impl FnMut(Done<'_>) + 'static) -> ObserveGuard {
    let previous = OBSERVER.with(|cell| cell.borrow_mut().replace(Box::new(f)));
    OBSERVED.fetch_add(1, Ordering::SeqCst);
    ObserveGuard { previous, _not_send: PhantomData }
}

/// Removes its observer when dropped (restoring an outer one).
pub struct ObserveGuard {
    previous: Option<Observer>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ObserveGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        OBSERVER.with(|cell| *cell.borrow_mut() = previous);
        OBSERVED.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for ObserveGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObserveGuard").finish_non_exhaustive()
    }
}

/// Tells the calling thread's observer, if any, that `op` on `path` (renamed
/// to `to`) completed. Every operation of [`crate::io`] calls this last.
#[inline]
pub fn done(op: Op, path: &Path, to: Option<&Path>) {
    if OBSERVED.load(Ordering::Relaxed) == 0 {
        return;
    }
    OBSERVER.with(|cell| {
        // Taken out while it runs: an observer that (wrongly) does I/O through
        // the gate is not called again from inside itself.
        let taken = cell.borrow_mut().take();
        if let Some(mut f) = taken {
            f(Done { op, path, to });
            *cell.borrow_mut() = Some(f);
        }
    });
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Open => "open",
        Op::Write => "write",
        Op::Read => "read",
        Op::Sync => "fsync",
        Op::SyncDir => "fsync dir",
        Op::SetLen => "set_len",
        Op::Rename => "rename",
        Op::Remove => "remove",
        Op::CreateDir => "create_dir",
        Op::ReadDir => "read_dir",
        Op::Metadata => "metadata",
        Op::Map => "mmap",
        Op::Lock => "lock",
        Op::Allocate => "fallocate",
        Op::FreeSpace => "statvfs",
    }
}

/// Whether a plan is armed or an observer installed on the calling thread.
/// Both are per thread, so work that would move to other threads (creating
/// or closing partitions in parallel) stays on this one while they are, and
/// the gate sees every operation of it.
pub fn active_on_this_thread() -> bool {
    let armed = ARMED.load(Ordering::Relaxed) > 0 && PLAN.with(|cell| cell.borrow().is_some());
    armed || (OBSERVED.load(Ordering::Relaxed) > 0 && OBSERVER.with(|cell| cell.borrow().is_some()))
}
