//! strata: Apache Kafka's log layer as an embeddable library.
//!
//! (Crate docs are being written; see README.md.)

pub mod clock;
pub mod config;
pub mod error;
pub mod format;
pub mod index;
pub mod inspect;
pub mod io;
pub mod log;
pub(crate) mod segment;
pub mod store;

pub use error::{Error, Result};
