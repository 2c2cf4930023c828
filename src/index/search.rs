//! The index searches: the slot of the largest key `<= target`, and of the
//! smallest key `>= target`, over `n` sorted entries read through a key
//! function.
//!
//! Kafka's `AbstractIndex` first looks in a "warm" tail of `8192 / entry
//! size` entries (the last page or so, which appends and tailing reads keep in
//! the page cache) and only searches the cold head when the target is below
//! it, so that lookups touch few pages. This module does the same; the warm
//! split changes which pages are read, never the result, so any correct
//! "largest entry `<=` target" search would be equivalent.
//!
//! Unlike Kafka's search, which returns whichever equal key it meets first,
//! [`largest_le`] returns the *last* of several equal keys. Well-formed
//! indexes have no equal keys (offsets are strictly increasing, time-index
//! timestamps are appended only when strictly greater), so the results agree.

/// Size of Kafka's warm section in bytes (`AbstractIndex.warmEntries`).
const WARM_BYTES: usize = 8192;

/// Number of warm entries for an entry size (1024 for `.index`, 682 for
/// `.timeindex`).
pub(crate) const fn warm_entries(entry_size: usize) -> usize {
    WARM_BYTES / entry_size
}

/// The last slot in `[lo, hi]` whose key is `<= target`, given that
/// `key(lo) <= target`.
fn last_le_from(mut lo: usize, mut hi: usize, target: i64, key: &impl Fn(usize) -> i64) -> usize {
    while lo < hi {
        // Upper middle, so `lo = mid` always makes progress.
        let mid = lo + (hi - lo).div_ceil(2);
        if key(mid) > target {
            hi = mid - 1;
        } else {
            lo = mid;
        }
    }
    lo
}

/// The slot of the largest key `<= target` among slots `0..n`, whose keys are
/// non-decreasing; `None` if every key is above `target` or `n == 0`.
pub(crate) fn largest_le(
    n: usize,
    warm: usize,
    target: i64,
    key: impl Fn(usize) -> i64,
) -> Option<usize> {
    let last = n.checked_sub(1)?;
    let first_hot = last.saturating_sub(warm);
    // Kafka tests `<`; `<=` also sends an exact hit on `first_hot` to the
    // warm side, so that the last of several equal keys is found.
    if key(first_hot) <= target {
        return Some(last_le_from(first_hot, last, target, &key));
    }
    if key(0) > target {
        return None;
    }
    Some(last_le_from(0, first_hot, target, &key))
}

/// [`largest_le`], trying first the slot interpolated between the first
/// and the last key: for an index whose entries are about evenly spaced
/// (one per batch of a steady producer, the common case) that is the
/// answer, found in four key reads instead of a binary search's dozen or
/// more, each a likely cache miss in an index larger than the CPU caches.
/// The guess is kept only when its key is `<= target` and the next key is
/// above, which makes it the last such slot whatever the keys are; else
/// the binary search answers. For a lookup near the end (a tailing
/// reader) the guess lands in the warm section; the first entry is read
/// besides, which Kafka's warm/cold split would not read.
pub(crate) fn largest_le_guessed(
    n: usize,
    warm: usize,
    target: i64,
    key: impl Fn(usize) -> i64,
) -> Option<usize> {
    let last = n.checked_sub(1)?;
    let (low, high) = (key(0), key(last));
    if high <= target {
        return Some(last); // the last slot, the largest key: nothing after it
    }
    if target < low {
        return None;
    }
    if let Some(g) = interpolate(last, low, high, target)
        && key(g) <= target
        && key(g + 1) > target
    {
        return Some(g);
    }
    largest_le(n, warm, target, key)
}

/// The slot in `[0, last)` that `target` would have among keys rising
/// evenly from `low` (slot 0) to `high` (slot `last`), when `low <= target
/// < high`: [`largest_le_guessed`]'s guess.
#[inline]
pub(crate) fn interpolate(last: usize, low: i64, high: i64, target: i64) -> Option<usize> {
    if !(low <= target && target < high) {
        return None;
    }
    let guess = target.abs_diff(low).checked_mul(last as u64)? / high.abs_diff(low);
    usize::try_from(guess).ok().filter(|&g| g < last)
}

/// The slot of the smallest key `>= target` among slots `0..n`, whose keys are
/// non-decreasing; `None` if every key is below `target` or `n == 0`.
pub(crate) fn smallest_ge(
    n: usize,
    warm: usize,
    target: i64,
    key: impl Fn(usize) -> i64,
) -> Option<usize> {
    let Some(below) = target.checked_sub(1) else {
        // Every key is `>= i64::MIN`.
        return (n > 0).then_some(0);
    };
    // The first slot after the last key `< target`.
    let first = largest_le(n, warm, below, key).map_or(0, |slot| slot + 1);
    (first < n).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brute_largest_le(keys: &[i64], target: i64) -> Option<usize> {
        keys.iter().rposition(|&k| k <= target)
    }

    fn brute_smallest_ge(keys: &[i64], target: i64) -> Option<usize> {
        keys.iter().position(|&k| k >= target)
    }

    #[test]
    fn empty_index_finds_nothing() {
        assert_eq!(largest_le(0, 4, 10, |_| 0), None);
        assert_eq!(smallest_ge(0, 4, 10, |_| 0), None);
    }

    #[test]
    fn target_between_warm_and_cold_sections_is_found() {
        let keys: Vec<i64> = (0..100).map(|i| i * 10).collect();
        for target in -5..1005 {
            assert_eq!(largest_le(100, 7, target, |i| keys[i]), brute_largest_le(&keys, target));
            assert_eq!(smallest_ge(100, 7, target, |i| keys[i]), brute_smallest_ge(&keys, target));
        }
    }

    #[test]
    fn evenly_spaced_keys_are_found_by_the_guess_in_four_key_reads() {
        // One entry per batch of 100 records, 10,000 batches: a point read's index.
        let keys: Vec<i64> = (0..10_000).map(|i| 5_000 + i * 100 + 99).collect();
        for target in [5_099, 5_100, 123_456, 777_777, 1_004_998, 1_005_098] {
            let reads = std::cell::Cell::new(0);
            let key = |i: usize| {
                reads.set(reads.get() + 1);
                keys[i]
            };
            let got = largest_le_guessed(keys.len(), 1024, target, key);
            assert_eq!(got, brute_largest_le(&keys, target), "{target}");
            assert!(reads.get() <= 4, "{target}: {} key reads", reads.get());
        }
    }

    #[test]
    fn a_wrong_guess_falls_back_to_the_binary_search() {
        // Clustered keys (a compacted head, then a dense tail) and runs of equal keys.
        let mut keys: Vec<i64> = (0..50).map(|i| i * 1_000_000).collect();
        keys.extend((0..500).map(|i| 50_000_000 + i));
        keys.extend([60_000_000; 5]);
        keys.push(70_000_000);
        for target in [
            -1,
            0,
            999_999,
            1_000_000,
            49_000_001,
            50_000_250,
            60_000_000,
            69_999_999,
            70_000_000,
            i64::MAX,
        ] {
            assert_eq!(
                largest_le_guessed(keys.len(), 7, target, |i| keys[i]),
                brute_largest_le(&keys, target),
                "{target}"
            );
        }
    }

    proptest! {
        #[test]
        fn search_agrees_with_a_linear_scan(
            mut keys in proptest::collection::vec(-1000i64..1000, 0..300),
            warm in 0usize..40,
            target in -1100i64..1100,
        ) {
            keys.sort_unstable();
            let n = keys.len();
            prop_assert_eq!(largest_le(n, warm, target, |i| keys[i]), brute_largest_le(&keys, target));
            prop_assert_eq!(
                largest_le_guessed(n, warm, target, |i| keys[i]),
                brute_largest_le(&keys, target)
            );
            prop_assert_eq!(smallest_ge(n, warm, target, |i| keys[i]), brute_smallest_ge(&keys, target));
        }
    }
}
