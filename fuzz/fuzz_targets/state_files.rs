//! Fuzz target: the claims listed in `checks/state_files.rs`.
#![no_main]

#[path = "../checks/state_files.rs"]
#[allow(dead_code, reason = "outcome details are for the corpus replay test")]
mod state_files;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    state_files::check(data);
});
