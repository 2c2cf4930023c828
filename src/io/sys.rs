//! System calls that std and memmap2 do not offer: `fallocate` (real blocks
//! for index files, so a full disk cannot surface as a `SIGBUS` in a mapping)
//! and `statvfs` (the free-space watermark); and `clock_gettime`, read as
//! milliseconds in two operations (std's `SystemTime` takes some 90
//! instructions more a call: a checked subtraction from the epoch, a
//! `Duration`, a 128-bit `as_millis`), once an append.

use std::ffi::CString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::io::AsRawFd as _;
use std::path::Path;

/// Allocates blocks for `[offset, offset + len)` of `file`, growing it to
/// the end of that range if it is shorter (mode 0). Blocks already there are
/// kept; bytes already written are not touched.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn fallocate(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    let big = |_| std::io::Error::from_raw_os_error(libc::EFBIG);
    let offset = libc::off_t::try_from(offset).map_err(big)?;
    let len = libc::off_t::try_from(len).map_err(big)?;
    loop {
        #[expect(unsafe_code, reason = "fallocate(2) on an open file descriptor")]
        // SAFETY: `file` owns a valid open descriptor for the whole call; the
        // call reads no memory of ours. Mode 0 only gives holes in the range
        // blocks (reading as the zeros they read as before) and may grow the
        // file, never shrink it, so a live mapping of the file sees the same
        // bytes and keeps every page it had.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, offset, len) };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Allocates blocks for `[offset, offset + len)` of `file` without changing
/// its length (`FALLOC_FL_KEEP_SIZE`): blocks past the end of the file,
/// which its size does not cover and no read sees.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn fallocate_keep_size(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    let big = |_| std::io::Error::from_raw_os_error(libc::EFBIG);
    let offset = libc::off_t::try_from(offset).map_err(big)?;
    let len = libc::off_t::try_from(len).map_err(big)?;
    loop {
        #[expect(unsafe_code, reason = "fallocate(2) on an open file descriptor")]
        // SAFETY: `file` owns a valid open descriptor for the whole call; the
        // call reads no memory of ours. `FALLOC_FL_KEEP_SIZE` only gives
        // holes in the range blocks and never changes the file's length, so
        // every read and every live mapping sees the same bytes as before.
        let rc =
            unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, offset, len) };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Where there is no `fallocate(2)`, nothing is allocated ahead.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn fallocate_keep_size(_file: &File, _offset: u64, _len: u64) -> std::io::Result<()> {
    Err(std::io::Error::from_raw_os_error(libc::EOPNOTSUPP))
}

/// Where there is no `fallocate(2)`, the caller writes zeros instead.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn fallocate(_file: &File, _offset: u64, _len: u64) -> std::io::Result<()> {
    Err(std::io::Error::from_raw_os_error(libc::EOPNOTSUPP))
}

/// `f_bavail * f_frsize` of the file system holding `path`.
pub(super) fn free_space(path: &Path) -> std::io::Result<u64> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    #[expect(unsafe_code, reason = "a zeroed statvfs is a valid out-parameter")]
    // SAFETY: `statvfs` is a plain C struct of integers, for which all-zero
    // bytes are a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    #[expect(unsafe_code, reason = "statvfs(3) with a NUL-terminated path")]
    // SAFETY: `c_path` is NUL-terminated and outlives the call; `st` is a
    // valid, writable `statvfs` the call fills in.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(clippy::useless_conversion, reason = "the field types differ between platforms")]
    let free = u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize));
    Ok(free)
}

/// The size of a memory page: the unit in which a write through a mapping
/// needs blocks behind it.
pub(super) fn page_size() -> u64 {
    #[expect(unsafe_code, reason = "sysconf(3) reads a constant of the system")]
    // SAFETY: `sysconf` takes a plain integer, touches no memory of ours and
    // is thread-safe for `_SC_PAGESIZE`.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

/// The soft limit on open files (`RLIMIT_NOFILE`), or `None` when unlimited
/// or unknown.
pub(super) fn open_file_limit() -> Option<u64> {
    #[expect(unsafe_code, reason = "a zeroed rlimit is a valid out-parameter")]
    // SAFETY: `rlimit` is a plain C struct of integers, for which all-zero
    // bytes are a valid value.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    #[expect(unsafe_code, reason = "getrlimit(2) filling in a struct we own")]
    // SAFETY: `lim` is a valid, writable `rlimit` that outlives the call,
    // which writes only into it.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    #[allow(clippy::useless_conversion, reason = "rlim_t differs between platforms")]
    let soft = u64::from(lim.rlim_cur);
    (rc == 0 && lim.rlim_cur != libc::RLIM_INFINITY).then_some(soft)
}

/// Whether an exclusive open-file-description record lock (`F_OFD_SETLK`,
/// `F_WRLCK` over the whole file) was taken on `file`: `Ok(false)` when
/// another holds a conflicting lock. OFD locks conflict with the POSIX
/// record locks a JVM takes (`FileChannel.tryLock` is `fcntl(F_SETLK)`), also
/// those of this process, while belonging, like an `flock`, to the open file
/// description: closing another descriptor of the file releases nothing.
/// `Ok(true)` without taking anything on a kernel without OFD locks (before
/// Linux 3.15: `EINVAL`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn try_lock_record(file: &File) -> std::io::Result<bool> {
    #[expect(unsafe_code, reason = "a zeroed flock is a valid value")]
    // SAFETY: `flock` is a plain C struct of integers, for which all-zero
    // bytes are a valid value (and `l_pid` must be 0 for an OFD lock).
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // `l_start` 0 and `l_len` 0: the whole file, however long it grows.
    loop {
        #[expect(unsafe_code, reason = "fcntl(2) F_OFD_SETLK with a struct we own")]
        // SAFETY: `file` owns a valid open descriptor for the whole call;
        // `lock` is a valid `flock` that outlives the call, which only reads it.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &raw const lock) };
        if rc == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::EAGAIN | libc::EACCES) => return Ok(false),
            Some(libc::EINVAL) => return Ok(true),
            _ => return Err(e),
        }
    }
}

/// Where there are no OFD locks, the `flock` alone guards the directory.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn try_lock_record(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

/// Milliseconds since the Unix epoch on `CLOCK_REALTIME`, the clock of
/// Java's `System.currentTimeMillis()` (Kafka's `Time.SYSTEM.milliseconds()`)
/// at the same precision: the time truncated to the millisecond. 0 before the
/// epoch, as `SystemTime::duration_since(UNIX_EPOCH)` refuses such a time.
pub(crate) fn realtime_ms() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    #[expect(unsafe_code, reason = "clock_gettime(2) filling in a timespec we own")]
    // SAFETY: `ts` is a valid, writable timespec for the whole call, and
    // clock_gettime writes nothing else; CLOCK_REALTIME exists on every
    // system (the call cannot fail with it, and `ts` stays zero if it did).
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    if rc != 0 || ts.tv_sec < 0 {
        return 0;
    }
    // tv_nsec is in 0..1e9.
    #[allow(clippy::useless_conversion, reason = "time_t and c_long are i32 on 32-bit targets")]
    i64::from(ts.tv_sec).saturating_mul(1000).saturating_add(i64::from(ts.tv_nsec) / 1_000_000)
}
