//! A CPU hint std offers only as an `unsafe` intrinsic: prefetching memory
//! the caller is about to read (the cleaner's key map, far larger than the
//! caches, probed at random).

/// Asks the CPU to start loading the cache line holding `value`, so that a
/// read of it shortly after does not wait for memory. A hint only: it never
/// changes what any read returns, and does nothing on other architectures.
#[inline]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let at: *const i8 = (value as *const T).cast();
        #[expect(unsafe_code, reason = "the prefetch intrinsic is declared unsafe")]
        // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it is
        // part of the architecture's baseline). A prefetch reads nothing into
        // the program and cannot fault, whatever the address; `at` is besides
        // the address of a live reference.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(at);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// [`prefetch`] of the first `lines` 64-byte cache lines of `bytes` (all of
/// them when it is shorter): a batch's head, asked for before a read sums
/// it.
#[inline]
pub fn prefetch_lines(bytes: &[u8], lines: usize) {
    let head = bytes.get(..lines.saturating_mul(64)).unwrap_or(bytes);
    for byte in head.iter().step_by(64) {
        prefetch(byte);
    }
}
