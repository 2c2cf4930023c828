//! Fuzz target: the claims listed in `checks/partition_dir.rs`.
#![no_main]

#[path = "../checks/partition_dir.rs"]
#[allow(dead_code, reason = "outcome details are for the corpus replay test")]
mod partition_dir;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    partition_dir::check(data);
});
