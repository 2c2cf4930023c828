//! Running independent per-partition work (creating partitions, closing
//! logs) on a few threads at once. Most of that work waits on fsyncs, and
//! file systems batch concurrent fsyncs into one journal commit (ext4's and
//! xfs's group commit), so thousands of partitions are created or closed in
//! a fraction of the time one thread needs.

use parking_lot::Mutex;

/// Threads used at most: enough to fill a journal commit, few enough to be
/// cheap to start for a short burst of work.
pub(super) const MAX_THREADS: usize = 16;

/// `f` applied to every item, on up to [`MAX_THREADS`] scoped threads;
/// results in the order of `items`. On the calling thread alone while a
/// fault plan or observer is active there (they are per thread).
pub(super) fn map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let n = items.len();
    if n <= 1 || crate::io::fault::active_on_this_thread() {
        return items.into_iter().map(f).collect();
    }
    let queue = Mutex::new(items.into_iter().enumerate());
    let results = Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|s| {
        for _ in 0..n.min(MAX_THREADS) {
            s.spawn(|| {
                loop {
                    let Some((i, item)) = queue.lock().next() else { break };
                    let r = f(item);
                    results.lock().push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}
