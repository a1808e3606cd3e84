//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// The shared CIFAR-10 batches beside the checkout; their absence is a failure naming the
/// path, never a skip.
pub fn cifar_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar-10-batches-bin");
    assert!(
        dir.join("data_batch_1.bin").is_file(),
        "CIFAR-10 test data missing: expected the binary batches in {}",
        dir.display()
    );
    dir
}
