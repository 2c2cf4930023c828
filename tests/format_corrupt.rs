//! Damaged and hostile batches give the right error, never a panic and never
//! an allocation sized by a lying length field.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::Bytes;
use strata::internals::format::{
    BatchBuilder, BatchIter, BatchView, Compression, FormatError, Record, StopReason, layout,
};

fn sample_batch(codec: Compression) -> Bytes {
    let mut b = BatchBuilder::new(100).compression(codec, None);
    for i in 0..5 {
        b.append(
            &Record::new(format!("key-{i}"), format!("value-{i}"))
                .timestamp(1_000 + i)
                .header("h", "x"),
        )
        .unwrap();
    }
    b.build().unwrap()
}

#[test]
fn every_flipped_byte_under_the_crc_is_a_crc_mismatch() {
    for codec in Compression::ALL {
        let good = sample_batch(codec);
        for pos in layout::ATTRIBUTES..good.len() {
            let mut bad = good.to_vec();
            bad[pos] ^= 0x01;
            let err = BatchView::new(Bytes::from(bad)).unwrap().validate().unwrap_err();
            assert!(matches!(err, FormatError::CrcMismatch { .. }), "{codec} byte {pos}: {err}");
        }
    }
}

#[test]
fn every_truncation_of_a_batch_is_reported_as_a_torn_tail() {
    let good = sample_batch(Compression::None);
    for len in 1..good.len() {
        let mut iter = BatchIter::validating(good.slice(..len));
        assert_eq!(iter.next(), None, "cut at {len}");
        assert_eq!(iter.valid_len(), 0);
        // A cut inside the leading zero bytes of the base offset cannot be told from preallocation.
        let expect_zero = good[..len].iter().all(|&b| b == 0);
        let stop = iter.stop_reason().unwrap();
        assert!(
            matches!(stop, StopReason::TornTail { position: 0, .. })
                || expect_zero && matches!(stop, StopReason::ZeroTail { .. }),
            "cut at {len}: {stop:?}"
        );
        assert!(matches!(
            BatchView::parse_prefix(&good.slice(..len)),
            Err(FormatError::Truncated { .. })
        ));
    }
}

#[test]
fn region_iteration_keeps_whole_batches_before_a_corrupt_one() {
    let a = sample_batch(Compression::None);
    let mut region = a.to_vec();
    region.extend_from_slice(&a);
    let mut bad = a.to_vec();
    bad[70] ^= 0xff;
    region.extend_from_slice(&bad);
    let mut iter = BatchIter::validating(Bytes::from(region));
    assert_eq!(iter.by_ref().count(), 2);
    assert_eq!(iter.valid_len(), 2 * a.len());
    assert!(matches!(
        iter.stop_reason(),
        Some(StopReason::Corrupt { position, error: FormatError::CrcMismatch { .. } }) if *position == 2 * a.len()
    ));
}

#[test]
fn zero_filled_tail_is_reported_as_preallocation_not_corruption() {
    let a = sample_batch(Compression::None);
    let mut region = a.to_vec();
    region.extend_from_slice(&[0u8; 4096]);
    let mut iter = BatchIter::validating(Bytes::from(region));
    assert_eq!(iter.by_ref().count(), 1);
    assert_eq!(iter.stop_reason(), Some(&StopReason::ZeroTail { position: a.len(), len: 4096 }));
}

#[test]
fn absurd_batch_length_is_a_torn_tail_without_allocating_it() {
    let mut bad = sample_batch(Compression::None).to_vec();
    bad[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    let mut iter = BatchIter::validating(Bytes::from(bad));
    assert_eq!(iter.next(), None);
    assert!(
        matches!(iter.stop_reason(), Some(StopReason::TornTail { needed, .. }) if *needed == i32::MAX as usize + 12)
    );
}

#[test]
fn negative_and_tiny_batch_lengths_are_corrupt() {
    for length in [-5i32, 0, 13, 30] {
        let mut bad = sample_batch(Compression::None).to_vec();
        bad[8..12].copy_from_slice(&length.to_be_bytes());
        let mut iter = BatchIter::validating(Bytes::from(bad));
        assert_eq!(iter.next(), None);
        assert!(
            matches!(iter.stop_reason(), Some(StopReason::Corrupt { position: 0, .. })),
            "length {length}"
        );
    }
}

/// Rewrites a header field and fixes the CRC so only the field is wrong.
fn with_field(field_at: usize, value: &[u8]) -> BatchView {
    let mut b = sample_batch(Compression::None).to_vec();
    b[field_at..field_at + value.len()].copy_from_slice(value);
    let crc = crc32c::crc32c(&b[layout::ATTRIBUTES..]);
    b[layout::CRC..layout::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    BatchView::new(Bytes::from(b)).unwrap()
}

#[test]
fn a_huge_record_count_errors_on_the_missing_records_instead_of_allocating() {
    let batch = with_field(layout::RECORDS_COUNT, &i32::MAX.to_be_bytes());
    batch.validate().unwrap();
    let results: Vec<_> = batch.records().unwrap().collect();
    assert_eq!(results.len(), 6, "5 records then one error");
    assert!(results[5].is_err());
    assert!(batch.validate_records().is_err());
}

#[test]
fn a_negative_record_count_is_invalid() {
    let err = with_field(layout::RECORDS_COUNT, &(-1i32).to_be_bytes()).validate().unwrap_err();
    assert!(matches!(err, FormatError::InvalidValue { field: "batch.recordsCount", .. }), "{err}");
}

#[test]
fn a_record_count_below_the_records_present_is_trailing_bytes() {
    let err =
        with_field(layout::RECORDS_COUNT, &3i32.to_be_bytes()).validate_records().unwrap_err();
    assert!(matches!(err, FormatError::TrailingBytes { count: 3, .. }), "{err}");
}

#[test]
fn an_unknown_codec_is_invalid() {
    let err = with_field(layout::ATTRIBUTES, &7i16.to_be_bytes()).validate().unwrap_err();
    assert!(
        matches!(err, FormatError::InvalidValue { field: "batch.attributes.compression", .. }),
        "{err}"
    );
}

#[test]
fn a_lying_key_length_names_the_key_field() {
    // First record starts at 61: length varint, attributes, ts delta, offset delta, then keyLength.
    let batch = sample_batch(Compression::None);
    let mut b = batch.to_vec();
    b[layout::RECORDS + 4] = 0x7e; // keyLength 63, past the record's end
    let crc = crc32c::crc32c(&b[layout::ATTRIBUTES..]);
    b[layout::CRC..layout::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    let err = BatchView::new(Bytes::from(b)).unwrap().validate_records().unwrap_err();
    assert!(matches!(err, FormatError::Truncated { field: "record.key", .. }), "{err}");
}

#[test]
fn legacy_magic_is_refused_by_name() {
    let mut b = sample_batch(Compression::None).to_vec();
    b[layout::MAGIC] = 1;
    let err = BatchView::new(Bytes::from(b)).unwrap_err();
    assert_eq!(err, FormatError::UnsupportedMagic { magic: 1 });
}

#[test]
fn a_view_of_one_batch_refuses_bytes_after_it_and_keeps_the_buffer_whole_otherwise() {
    let good = sample_batch(Compression::None);
    let view = BatchView::new(good.clone()).unwrap();
    // The view holds the very buffer it was given, not a copy.
    assert_eq!(view.as_bytes().as_ptr(), good.as_ptr());
    assert_eq!(view.size(), good.len());
    view.validate().unwrap();
    let mut longer = good.to_vec();
    longer.push(0);
    let err = BatchView::new(Bytes::from(longer)).unwrap_err();
    assert!(matches!(err, FormatError::InvalidValue { field: "batch.batchLength", .. }), "{err}");
    assert!(err.to_string().contains("bytes after the batch"), "{err}");
    // A buffer cut short is a truncation, named before any length check.
    let err = BatchView::new(good.slice(..good.len() - 1)).unwrap_err();
    assert!(matches!(err, FormatError::Truncated { field: "batch", .. }), "{err}");
}
