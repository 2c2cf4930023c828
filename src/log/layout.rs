//! Proof of the layout [`Inner`] documents: every field an append reads or
//! writes on a log lies in the first three cache lines of its allocation.

use std::sync::Arc;

use super::Log;
use super::append::AppendSettings;
use crate::clock::SystemClock;
use crate::config::LogConfig;

const LINE: usize = 64;

/// The cache line of the last byte of `field` (of `len` bytes) in `log`'s
/// allocation.
fn last_line<T: ?Sized>(log: &Log, field: &T, len: usize) -> usize {
    let base = Arc::as_ptr(&log.inner) as usize;
    (std::ptr::from_ref(field).cast::<u8>() as usize - base + len - 1) / LINE
}

#[test]
fn an_appends_fields_of_a_log_lie_in_its_first_three_cache_lines() -> crate::Result<()> {
    assert_eq!(std::mem::align_of::<super::Inner>(), LINE, "the log starts a cache line");
    assert_eq!(std::mem::size_of::<AppendSettings>(), LINE);
    let dir = tempfile::tempdir().map_err(|e| crate::Error::io("tempdir", "", e))?;
    let (log, _) = Log::open(
        dir.path(),
        "t",
        0,
        LogConfig::default(),
        Arc::new(SystemClock),
        super::LoadOptions::default(),
    )?;
    let i = &log.inner;
    let mut hot = vec![
        ("poisoned", last_line(&log, &i.poisoned, 1)),
        ("watermark", last_line(&log, &i.watermark, 1)),
        ("read_only", last_line(&log, &i.read_only, 1)),
        ("settings", last_line(&log, &*i.settings.read(), LINE)),
    ];
    {
        let v = i.view.read();
        hot.push(("view.segments", last_line(&log, &v.segments, 8)));
        hot.push(("view.log_end_offset", last_line(&log, &v.log_end_offset, 8)));
        hot.push(("view.waiters", last_line(&log, &v.waiters, 8)));
        hot.push(("view.first_unstable_offset", last_line(&log, &v.first_unstable_offset, 16)));
    }
    let w = i.writer.lock();
    hot.push(("writer.closed", last_line(&log, &w.closed, 1)));
    hot.push(("writer.leader_epoch", last_line(&log, &w.leader_epoch, 4)));
    hot.push(("writer.active", last_line(&log, &w.active, 16)));
    // Its first field (`repr(C)`): the copy of the last epoch entry.
    hot.push(("writer.epochs", last_line(&log, &w.epochs, 24)));
    drop(w);
    for (name, line) in hot {
        assert!(line < 3, "{name} ends in cache line {line} of the log, past the first three");
    }
    log.close()
}
