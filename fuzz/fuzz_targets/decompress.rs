//! Fuzz target: the claims listed in `checks/decompress.rs`.
#![no_main]

#[path = "../checks/decompress.rs"]
#[allow(dead_code, reason = "outcome details are for the corpus replay test")]
mod decompress;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    decompress::check(data);
});
