//! Fuzz target: the claims listed in `checks/legacy_decode.rs`.
#![no_main]

#[path = "../checks/legacy_decode.rs"]
#[allow(dead_code, reason = "outcome details are for the corpus replay test")]
mod legacy_decode;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    legacy_decode::check(data);
});
