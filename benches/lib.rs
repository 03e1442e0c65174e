//! The load harness lives in `boot.rs` (`cargo bench -p metacloud-benches`).
