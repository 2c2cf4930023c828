//! Format benchmarks (being written).
fn main() {}
