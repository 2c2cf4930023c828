//! Fuzz target: the claims listed in `checks/batch_region.rs`.
#![no_main]

#[path = "../checks/batch_region.rs"]
#[allow(dead_code, reason = "outcome details are for the corpus replay test")]
mod batch_region;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    batch_region::check(data);
});
