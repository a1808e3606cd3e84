//! Helpers shared by the integration tests. Each test binary uses some of them.
#![allow(dead_code)]

pub mod pty;
pub mod ui;

use std::path::{Path, PathBuf};

/// Where the CIFAR-10 batches are: `$SHATTERLAB_TEST_CIFAR`, else the shared data beside
/// the checkout. Their absence is a failure naming the path, never a skip.
pub fn cifar_dir() -> PathBuf {
    let dir = std::env::var_os("SHATTERLAB_TEST_CIFAR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar-10-batches-bin")
        });
    assert!(
        dir.join("data_batch_1.bin").is_file(),
        "CIFAR-10 test data missing: expected the binary batches in {} (set \
         SHATTERLAB_TEST_CIFAR to another directory holding them)",
        dir.display()
    );
    dir
}
