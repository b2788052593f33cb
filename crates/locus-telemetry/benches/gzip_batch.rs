//! Gzip throughput and ratio of `encode_batch` (being written).
fn main() {}
