//! Unit tests of the index types.
