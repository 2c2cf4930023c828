//! `logtool`, the operator's tool for a strata store (`shared/spec/logtool.md`), as the example
//! the contract names: `cargo run --release --example logtool -- [--dir DIR]... COMMAND`.
//!
//! The same sources as the `logtool` binary (`cargo install strata-log --features cli`): this
//! file only mounts `src/bin/logtool/` as a module, so examples build it without the `cli`
//! feature (its crates, clap and indicatif, are dev-dependencies too).

#[path = "../src/bin/logtool/main.rs"]
mod logtool;

fn main() -> std::process::ExitCode {
    logtool::main()
}
