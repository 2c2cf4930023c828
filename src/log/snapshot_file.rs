//! `<offset>.snapshot` files read, written and compared a chunk at a time, so
//! that what a snapshot costs besides the producer state is about a MiB, not
//! the file's length (920 MB for 20 million producers) and a decoded copy of
//! it. The bytes are [`producer_snapshot::encode`]'s, the checks
//! [`producer_snapshot::decode`]'s (Kafka's `ProducerStateManager.readSnapshot`
//! and `writeSnapshot`, schema `ProducerSnapshot.json` version 1):
//!
//! - the reader checks the version, then the count against the file's length
//!   (the length, bounded by the caller's limit, bounds the count), then
//!   sums the entries and checks the stored CRC, and only then reserves room
//!   for the producers and reads the entries into a new state (summing them
//!   again), handing the state over once the file ended where its count says;
//!   a refused file is reported with why, and costs a chunk, not a state;
//! - the writer writes the entries from byte 10 on while it sums them, then
//!   the header (version, CRC, count) at byte 0, then fsyncs and renames as
//!   [`file::replace_with`] does.

use std::fs::File;
use std::path::Path;

use super::producer_state::ProducerState;
use crate::Result;
use crate::format::FormatError;
use crate::format::layout::producer_snapshot::ENTRY_COUNT;
use crate::format::producer_snapshot::{self, ENTRY_SIZE, HEADER_SIZE, decode_entry, encode_entry};
use crate::io::file;

/// Entries read or written at a time: a chunk of about 1 MiB.
const CHUNK_ENTRIES: usize = 22_795;

/// The state `path`, the snapshot at offset `at`, holds, or `Err(why)` for a
/// file that is no snapshot to trust (longer than `limit`, an unknown
/// version, a count that does not match the length, a CRC mismatch, an entry
/// no state at `at` holds): the caller skips or removes it, as Kafka skips a
/// snapshot it cannot parse.
///
/// The CRC is checked in a first pass over the file, before room for a
/// producer is reserved or an entry decoded: a damaged file of a million
/// producers costs a chunk, not the state it claims. The second pass
/// decodes while it sums again (a file changed between the passes is
/// refused too).
///
/// # Errors
/// I/O failures, and no memory for the producers the file counts.
pub(super) fn read(
    path: &Path,
    limit: u64,
    at: i64,
) -> Result<std::result::Result<ProducerState, String>> {
    let file = file::open_read(path)?;
    let len = file::len(&file, path)?;
    let limit = limit.min(file::MAX_READ);
    if len > limit {
        return Ok(Err(format!("{len} bytes, past the longest snapshot read ({limit} bytes)")));
    }
    let mut head = [0; HEADER_SIZE];
    if file::read_up_to_at(&file, path, &mut head, 0)? < HEADER_SIZE {
        return Ok(Err(format!("{len} bytes, shorter than its {HEADER_SIZE}-byte header")));
    }
    let header = match producer_snapshot::decode_header(&head) {
        Ok(h) => h,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let Some(count) =
        usize::try_from(header.count).ok().filter(|_| header.expected_len == Some(len))
    else {
        return Ok(Err(format!(
            "snapshot.count: {} entries do not fill its {len} bytes",
            header.count
        )));
    };
    let mut entries = Entries { file: &file, path, head: &head, buf: Vec::new(), count };
    let crc = match entries.sum(|_| true)? {
        Ok(crc) => crc,
        Err(why) => return Ok(Err(why)),
    };
    if crc != header.crc {
        let e = FormatError::SnapshotCrcMismatch { stored: header.crc, computed: crc };
        return Ok(Err(e.to_string()));
    }
    let mut state = ProducerState::with_capacity(count, path)?;
    let mut refused = None;
    let decoded = entries.sum(|chunk| {
        for e in chunk.chunks_exact(ENTRY_SIZE) {
            let Ok(e) = decode_entry(e) else { return false };
            if let Err(why) = state.insert_entry(e, at) {
                refused = Some(why);
                return false;
            }
        }
        true
    })?;
    match decoded {
        Ok(again) if again == crc => {}
        Ok(_) => return Ok(Err("changed while it was read".to_owned())),
        Err(why) => return Ok(Err(refused.unwrap_or(why))),
    }
    Ok(state.finish_read().map(|()| state))
}

/// A snapshot's entries, read a chunk at a time.
struct Entries<'a> {
    file: &'a File,
    path: &'a Path,
    head: &'a [u8; HEADER_SIZE],
    buf: Vec<u8>,
    count: usize,
}

impl Entries<'_> {
    /// Reads every entry, handing each chunk to `f` (which returns `false`
    /// to refuse it), and returns the CRC of the count and entries, or why
    /// the file is refused: it ended early, grew past its count, or `f`
    /// refused a chunk.
    fn sum(
        &mut self,
        mut f: impl FnMut(&[u8]) -> bool,
    ) -> Result<std::result::Result<u32, String>> {
        let mut crc = crc32c::crc32c(self.head.get(ENTRY_COUNT..).unwrap_or_default());
        self.buf.resize(self.count.min(CHUNK_ENTRIES) * ENTRY_SIZE, 0);
        let (mut pos, mut left) = (HEADER_SIZE as u64, self.count);
        while left > 0 {
            let n = left.min(CHUNK_ENTRIES);
            let Some(chunk) = self.buf.get_mut(..n * ENTRY_SIZE) else {
                return Ok(Err("a chunk past its buffer".to_owned()));
            };
            // A file cut while it is read ends early.
            if file::read_up_to_at(self.file, self.path, chunk, pos)? < chunk.len() {
                return Ok(Err(format!("ends before its {} entries", self.count)));
            }
            crc = crc32c::crc32c_append(crc, chunk);
            if !f(chunk) {
                return Ok(Err("an entry does not decode".to_owned()));
            }
            pos += chunk.len() as u64;
            left -= n;
        }
        // A file that grew while it was read no longer matches its count.
        if file::read_up_to_at(self.file, self.path, &mut [0], pos)? != 0 {
            return Ok(Err(format!("goes on past its {} entries", self.count)));
        }
        Ok(Ok(crc))
    }
}

/// Writes `state`'s snapshot to `path` (fsynced when `durable`): the bytes
/// [`producer_snapshot::encode`] makes of its entries.
///
/// # Errors
/// I/O failures; `path` is then as it was.
pub(super) fn write(path: &Path, state: &ProducerState, durable: bool) -> Result<()> {
    file::replace_with(path, durable, |f, tmp| {
        let written = encode_chunks(state, |pos, chunk| {
            file::write_all_at(f, tmp, chunk, pos).map(|()| true)
        })?;
        // The sink never stops the encoding: `None` cannot come back.
        let (count, crc) = written.unwrap_or_default();
        file::write_all_at(f, tmp, &producer_snapshot::header(count, crc), 0)
    })
}

/// Whether `path` holds exactly `state`'s snapshot, compared a chunk at a
/// time (`false` also when it cannot be read).
pub(super) fn matches(path: &Path, state: &ProducerState) -> bool {
    let Ok(f) = file::open_read(path) else { return false };
    if file::len(&f, path).ok() != Some(producer_snapshot::encoded_len(state.len())) {
        return false;
    }
    let mut read = Vec::new();
    let same = |f: &File, pos: u64, want: &[u8], read: &mut Vec<u8>| {
        read.resize(want.len(), 0);
        file::read_up_to_at(f, path, read, pos).is_ok_and(|n| n == want.len()) && read == want
    };
    match encode_chunks(state, |pos, chunk| Ok(same(&f, pos, chunk, &mut read))) {
        Ok(Some((count, crc))) => same(&f, 0, &producer_snapshot::header(count, crc), &mut read),
        Ok(None) | Err(_) => false,
    }
}

/// Encodes `state`'s entries a chunk at a time, handing each to `sink` with
/// its position in the file (from byte 10 on). Returns the entry count and
/// the CRC the header must hold, or `None` once `sink` returned `false`.
fn encode_chunks(
    state: &ProducerState,
    mut sink: impl FnMut(u64, &[u8]) -> Result<bool>,
) -> Result<Option<(i32, u32)>> {
    let (n, entries) = state.snapshot_entries();
    // The caller checked the length against the limit, far below i32::MAX entries.
    let count = i32::try_from(n).unwrap_or(i32::MAX);
    let mut crc = crc32c::crc32c(&count.to_be_bytes());
    let mut buf = Vec::with_capacity(n.min(CHUNK_ENTRIES) * ENTRY_SIZE);
    let mut pos = HEADER_SIZE as u64;
    let mut entries = entries.take(usize::try_from(count).unwrap_or(0)).peekable();
    while entries.peek().is_some() {
        for e in entries.by_ref().take(CHUNK_ENTRIES) {
            encode_entry(&e, &mut buf);
        }
        crc = crc32c::crc32c_append(crc, &buf);
        if !sink(pos, &buf)? {
            return Ok(None);
        }
        pos += buf.len() as u64;
        buf.clear();
    }
    Ok(Some((count, crc)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::format::producer_snapshot::{SnapshotEntry, encode};

    /// A state of `n` producers: some without a batch, some in a transaction,
    /// inserted out of id order.
    fn state(n: i64) -> ProducerState {
        let mut s = ProducerState::default();
        for i in (0..n).rev() {
            s.insert_entry(
                SnapshotEntry {
                    producer_id: i * 7 + 3,
                    epoch: (i % 5) as i16,
                    last_sequence: if i % 11 == 0 { -1 } else { (i % 1000) as i32 },
                    last_offset: if i % 11 == 0 { -1 } else { i * 3 },
                    offset_delta: if i % 11 == 0 { 0 } else { (i % 4) as i32 },
                    timestamp: 1_700_000_000_000 + i,
                    coordinator_epoch: if i % 13 == 0 { 4 } else { -1 },
                    current_txn_first_offset: if i % 13 == 0 { i * 3 } else { -1 },
                },
                i64::MAX,
            )
            .unwrap();
        }
        s.finish_read().unwrap();
        s
    }

    /// Producers past two chunks, so that a chunk boundary is crossed.
    const MANY: i64 = 2 * CHUNK_ENTRIES as i64 + 17;

    #[test]
    fn streamed_writes_are_the_bytes_of_the_whole_file_encoder() {
        let dir = tempfile::tempdir().unwrap();
        for n in [0, 1, CHUNK_ENTRIES as i64, MANY] {
            let s = state(n);
            let old = encode(&s.entries());
            for durable in [false, true] {
                let path = dir.path().join(format!("{n}-{durable}.snapshot"));
                write(&path, &s, durable).unwrap();
                assert_eq!(std::fs::read(&path).unwrap(), old, "{n} producers, durable {durable}");
                assert!(matches(&path, &s));
                assert!(!file::with_suffix(&path, ".tmp").exists());
            }
        }
    }

    #[test]
    fn a_streamed_read_gives_back_the_state_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.snapshot");
        let s = state(MANY);
        write(&path, &s, false).unwrap();
        let back = read(&path, u64::MAX, i64::MAX).unwrap().unwrap();
        assert_eq!(back.entries(), s.entries());
        assert_eq!(back.first_unstable_offset(), s.first_unstable_offset());
        assert_eq!(back.first_unstable_offset(), Some(0));
    }

    #[test]
    fn a_producer_read_from_a_snapshot_holds_room_for_its_one_batch_only() {
        let s = state(12);
        // Producer 0 (id 3) has no batch; producer 1 (id 10) has one.
        assert_eq!(s.batch_capacity(3), Some(0));
        assert_eq!(s.batch_capacity(10), Some(1));
    }

    #[test]
    fn a_file_that_differs_anywhere_does_not_match_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.snapshot");
        let s = state(MANY);
        let good = encode(&s.entries());
        // The header, the first chunk, the last (short) chunk.
        for at in [3, 20, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 1;
            std::fs::write(&path, &bad).unwrap();
            assert!(!matches(&path, &s), "byte {at} flipped");
        }
        std::fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert!(!matches(&path, &s));
        assert!(!matches(&dir.path().join("none.snapshot"), &s));
    }

    /// `bytes` with the count field set to `count` and the CRC summed again,
    /// so that only the count's disagreement with the length is wrong.
    fn with_count(bytes: &[u8], count: i32) -> Vec<u8> {
        let mut b = bytes.to_vec();
        b[ENTRY_COUNT..HEADER_SIZE].copy_from_slice(&count.to_be_bytes());
        let crc = crc32c::crc32c(&b[ENTRY_COUNT..]);
        b[2..ENTRY_COUNT].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn damaged_snapshots_are_refused_by_the_streamed_reader_as_by_decode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.snapshot");
        let good = encode(&state(MANY).entries());
        let len = good.len();
        let flip = |at: usize| {
            let mut b = good.clone();
            b[at] ^= 0x40;
            b
        };
        let count = i32::try_from(MANY).unwrap();
        let cases: Vec<(&str, Vec<u8>, u64)> = vec![
            ("CRC field", flip(3), u64::MAX),
            ("an entry of the first chunk", flip(HEADER_SIZE + 5), u64::MAX),
            ("an entry of the last chunk", flip(len - 2), u64::MAX),
            ("version", flip(1), u64::MAX),
            ("cut by a byte", good[..len - 1].to_vec(), u64::MAX),
            ("cut by an entry", good[..len - ENTRY_SIZE].to_vec(), u64::MAX),
            ("cut inside the header", good[..7].to_vec(), u64::MAX),
            ("empty", Vec::new(), u64::MAX),
            ("a byte past the entries", [&good[..], &[0]].concat(), u64::MAX),
            ("count one more than the entries", with_count(&good, count + 1), u64::MAX),
            ("count one less than the entries", with_count(&good, count - 1), u64::MAX),
            ("count negative", with_count(&good, -1), u64::MAX),
            ("count past the bound", with_count(&good, i32::MAX), u64::MAX),
            ("length past the limit", good.clone(), len as u64 - 1),
        ];
        for (case, bytes, limit) in cases {
            std::fs::write(&path, &bytes).unwrap();
            assert!(read(&path, limit, i64::MAX).unwrap().is_err(), "{case}: read");
            if limit == u64::MAX {
                assert!(producer_snapshot::decode(&bytes).is_err(), "{case}: decode");
            }
        }
        std::fs::write(&path, &good).unwrap();
        assert!(
            read(&path, len as u64, i64::MAX).unwrap().is_ok(),
            "the file itself, at the limit"
        );
    }

    #[test]
    fn a_refused_snapshot_is_named_with_what_was_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.snapshot");
        let good = encode(&state(MANY).entries());
        let len = good.len();
        let mut last = good.clone();
        last[len - 2] ^= 0x40;
        let mut version = good.clone();
        version[1] ^= 0x40;
        let cases: [(&[u8], u64, &str); 5] = [
            (&last, u64::MAX, "snapshot.crc: stored"),
            (&version, u64::MAX, "snapshot.version"),
            (&good[..len - ENTRY_SIZE], u64::MAX, "do not fill its"),
            (&good[..7], u64::MAX, "shorter than its 10-byte header"),
            (&good, len as u64 - 1, "past the longest snapshot read"),
        ];
        for (bytes, limit, want) in cases {
            std::fs::write(&path, bytes).unwrap();
            let why = read(&path, limit, i64::MAX).unwrap().unwrap_err();
            assert!(why.contains(want), "{want}: {why}");
        }
    }
}
