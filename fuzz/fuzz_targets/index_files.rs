//! Fuzz target: the claims listed in `checks/index_files.rs`.
#![no_main]

#[path = "../checks/index_files.rs"]
#[allow(dead_code, reason = "outcome details are for the corpus replay test")]
mod index_files;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    index_files::check(data);
});
