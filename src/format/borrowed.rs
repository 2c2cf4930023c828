//! Records to write from borrowed bytes: [`BorrowedRecord`], and
//! [`RecordParts`], what the batch builder and [`crate::log::Log::append`]
//! accept (owned [`Record`]s and borrowed ones alike).
//!
//! A borrowed record holds `&[u8]` slices of the caller's buffers. The
//! builder encodes them straight into the batch buffer, so each key and value
//! byte is copied once on its way to the page cache (then written to the file
//! from there): no `Bytes` to make, no `'static` data to arrange.
//!
//! ```
//! use strata::{BatchBuilder, BatchView, BorrowedRecord};
//! let line = String::from("user-7=clicked");
//! let (key, value) = line.split_once('=').unwrap_or_default();
//! let mut b = BatchBuilder::new(0);
//! b.append(&BorrowedRecord::new(key, value).header("src", "web").timestamp(1_700_000_000_000))?;
//! let batch = BatchView::new(b.build()?)?;
//! let r = batch.records()?.next().transpose()?.map(|r| r.to_record());
//! assert_eq!(r.and_then(|r| r.key), Some("user-7".into()));
//! # Ok::<(), strata::FormatError>(())
//! ```

use super::{Header, NO_TIMESTAMP, Record};

/// A record header over borrowed bytes. Keys are UTF-8 by Kafka's contract;
/// values may be null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BorrowedHeader<'a> {
    /// Header key bytes.
    pub key: &'a [u8],
    /// Header value; `None` is null, distinct from empty.
    pub value: Option<&'a [u8]>,
}

impl<'a> BorrowedHeader<'a> {
    /// A header with a key and a (possibly null) value.
    pub fn new<K, V>(key: &'a K, value: Option<&'a V>) -> Self
    where
        K: AsRef<[u8]> + ?Sized,
        V: AsRef<[u8]> + ?Sized,
    {
        BorrowedHeader { key: key.as_ref(), value: value.map(AsRef::as_ref) }
    }
}

/// A record to be written whose key, value and headers borrow the caller's
/// bytes (`&str`, `&[u8]`, `&Vec<u8>`, `&Bytes`, ...). Timestamp
/// [`NO_TIMESTAMP`] (-1) means "stamp it at append", as for [`Record`].
///
/// It lives as long as the slices it borrows: build it, append it, drop it.
/// [`to_record`](Self::to_record) makes an owned copy when one must outlive them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BorrowedRecord<'a> {
    /// Milliseconds since the epoch, or -1.
    pub timestamp: i64,
    /// Key; `None` is null, distinct from empty.
    pub key: Option<&'a [u8]>,
    /// Value; `None` is null (a tombstone), distinct from empty.
    pub value: Option<&'a [u8]>,
    /// Headers in order; duplicate keys are allowed. Empty costs no allocation.
    pub headers: Vec<BorrowedHeader<'a>>,
}

impl<'a> BorrowedRecord<'a> {
    /// A record with a key and a value, no headers, timestamp -1.
    pub fn new<K, V>(key: &'a K, value: &'a V) -> Self
    where
        K: AsRef<[u8]> + ?Sized,
        V: AsRef<[u8]> + ?Sized,
    {
        BorrowedRecord {
            timestamp: NO_TIMESTAMP,
            key: Some(key.as_ref()),
            value: Some(value.as_ref()),
            headers: Vec::new(),
        }
    }

    /// A record with no key.
    pub fn unkeyed<V: AsRef<[u8]> + ?Sized>(value: &'a V) -> Self {
        BorrowedRecord {
            timestamp: NO_TIMESTAMP,
            key: None,
            value: Some(value.as_ref()),
            headers: Vec::new(),
        }
    }

    /// A tombstone: key with a null value.
    pub fn tombstone<K: AsRef<[u8]> + ?Sized>(key: &'a K) -> Self {
        BorrowedRecord {
            timestamp: NO_TIMESTAMP,
            key: Some(key.as_ref()),
            value: None,
            headers: Vec::new(),
        }
    }

    /// Sets the timestamp (ms since the epoch).
    #[must_use]
    pub fn timestamp(mut self, ts: i64) -> Self {
        self.timestamp = ts;
        self
    }

    /// Adds a header with a non-null value.
    #[must_use]
    pub fn header<K, V>(mut self, key: &'a K, value: &'a V) -> Self
    where
        K: AsRef<[u8]> + ?Sized,
        V: AsRef<[u8]> + ?Sized,
    {
        self.headers.push(BorrowedHeader { key: key.as_ref(), value: Some(value.as_ref()) });
        self
    }

    /// An owned [`Record`] with copies of the same bytes.
    #[must_use]
    pub fn to_record(&self) -> Record {
        Record {
            timestamp: self.timestamp,
            key: self.key.map(bytes::Bytes::copy_from_slice),
            value: self.value.map(bytes::Bytes::copy_from_slice),
            headers: self
                .headers
                .iter()
                .map(|h| Header {
                    key: bytes::Bytes::copy_from_slice(h.key),
                    value: h.value.map(bytes::Bytes::copy_from_slice),
                })
                .collect(),
        }
    }
}

impl<'a> From<&'a Record> for BorrowedRecord<'a> {
    fn from(r: &'a Record) -> Self {
        BorrowedRecord {
            timestamp: r.timestamp,
            key: r.key.as_deref(),
            value: r.value.as_deref(),
            headers: r
                .headers
                .iter()
                .map(|h| BorrowedHeader { key: &h.key, value: h.value.as_deref() })
                .collect(),
        }
    }
}

/// What a record to write is made of, however it holds its bytes: what
/// [`BatchBuilder::append`](super::BatchBuilder::append) and
/// [`Log::append`](crate::log::Log::append) take. Implemented by [`Record`]
/// (owned `Bytes`), [`BorrowedRecord`] (borrowed slices) and references to either.
///
/// The trait is sealed: an append reads each part more than once (it checks
/// the rules and sizes the batch, then encodes it), so every part must
/// answer the same on every call, which only these types promise. Any
/// record held elsewhere becomes a [`BorrowedRecord`] of its slices, copying
/// nothing.
pub trait RecordParts: sealed::Sealed {
    /// Milliseconds since the epoch, or [`NO_TIMESTAMP`] for "stamp at append".
    fn timestamp(&self) -> i64;
    /// The key, `None` when null.
    fn key(&self) -> Option<&[u8]>;
    /// The value, `None` when null (a tombstone).
    fn value(&self) -> Option<&[u8]>;
    /// The headers in order, as (key, nullable value).
    fn headers(&self) -> impl ExactSizeIterator<Item = (&[u8], Option<&[u8]>)> + Clone;
}

/// Keeps [`RecordParts`] to the types of this crate (see its docs).
pub(crate) mod sealed {
    /// Implemented only inside strata.
    pub trait Sealed {}
    impl Sealed for crate::format::Record {}
    impl Sealed for super::BorrowedRecord<'_> {}
    impl<T: Sealed + ?Sized> Sealed for &T {}
}

impl RecordParts for Record {
    fn timestamp(&self) -> i64 {
        self.timestamp
    }
    fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }
    fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }
    fn headers(&self) -> impl ExactSizeIterator<Item = (&[u8], Option<&[u8]>)> + Clone {
        self.headers.iter().map(|h| (&h.key[..], h.value.as_deref()))
    }
}

impl RecordParts for BorrowedRecord<'_> {
    fn timestamp(&self) -> i64 {
        self.timestamp
    }
    fn key(&self) -> Option<&[u8]> {
        self.key
    }
    fn value(&self) -> Option<&[u8]> {
        self.value
    }
    fn headers(&self) -> impl ExactSizeIterator<Item = (&[u8], Option<&[u8]>)> + Clone {
        self.headers.iter().map(|h| (h.key, h.value))
    }
}

impl<T: RecordParts + ?Sized> RecordParts for &T {
    fn timestamp(&self) -> i64 {
        (**self).timestamp()
    }
    fn key(&self) -> Option<&[u8]> {
        (**self).key()
    }
    fn value(&self) -> Option<&[u8]> {
        (**self).value()
    }
    fn headers(&self) -> impl ExactSizeIterator<Item = (&[u8], Option<&[u8]>)> + Clone {
        (**self).headers()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_and_owned_records_show_the_same_parts() {
        let owned = Record::new("k", "v").header("h", "x").timestamp(5);
        let borrowed = BorrowedRecord::new("k", "v").header("h", "x").timestamp(5);
        assert_eq!(BorrowedRecord::from(&owned), borrowed);
        assert_eq!(borrowed.to_record(), owned);
        let parts: Vec<_> = RecordParts::headers(&borrowed).collect();
        assert_eq!(parts, vec![(&b"h"[..], Some(&b"x"[..]))]);
        assert_eq!(RecordParts::key(&owned), Some(&b"k"[..]));
        assert_eq!(RecordParts::value(&BorrowedRecord::tombstone("k")), None);
        assert_eq!(RecordParts::key(&BorrowedRecord::unkeyed("v")), None);
    }
}
