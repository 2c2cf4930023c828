//! Fuzz target: the claims listed in `checks/batch_decode.rs`.
#![no_main]

#[path = "../checks/batch_decode.rs"]
#[allow(dead_code, reason = "outcome details are for the corpus replay test")]
mod batch_decode;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    batch_decode::check(data);
});
