//! Every module of strata, for its own tests, fuzz targets, benches and tools.
//!
//! **Not the public API**: anything here may change in any release. Embedders use the items at
//! the crate root ([`crate::Store`] first). The modules live here, rather than at the root, so
//! that the documented surface is the small one; inside the crate they keep their short paths
//! (`crate::format`, `crate::log`, ...).

#[path = "cleaner/mod.rs"]
pub mod cleaner;

#[path = "clock.rs"]
pub mod clock;

#[path = "config/mod.rs"]
pub mod config;

#[path = "error.rs"]
pub mod error;

#[path = "format/mod.rs"]
pub mod format;

#[path = "index/mod.rs"]
pub mod index;

#[path = "inspect.rs"]
pub mod inspect;

#[path = "io/mod.rs"]
pub mod io;

#[path = "log/mod.rs"]
pub mod log;

#[path = "segment/mod.rs"]
pub(crate) mod segment;

#[path = "store/mod.rs"]
pub mod store;
