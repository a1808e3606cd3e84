//! Helpers shared by the integration tests. Each test binary uses some of them.
#![allow(dead_code)]

pub mod pty;
pub mod ui;

use std::path::{Path, PathBuf};

/// Where the CIFAR-10 batches are: `$SHATTERLAB_TEST_CIFAR` (CI sets it; after
/// `shatterlab data download`, point it at the downloaded batches). Its absence is a failure
/// naming the variable and the path, never a skip.
pub fn cifar_dir() -> PathBuf {
    let dir = std::env::var_os("SHATTERLAB_TEST_CIFAR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "CIFAR-10 test data not given: set SHATTERLAB_TEST_CIFAR to the directory \
                 holding the binary batches (shatterlab data download fetches them)"
            )
        });
    assert!(
        dir.join("data_batch_1.bin").is_file(),
        "CIFAR-10 test data missing: expected the binary batches in {} (set \
         SHATTERLAB_TEST_CIFAR to another directory holding them)",
        dir.display()
    );
    dir
}

/// Writes a small CIFAR-10-format data set into `dir` (`data_batch_1.bin` with `train`
/// records, `test_batch.bin` with `test`) and returns `dir`. Deterministic: the label of
/// record i is i mod 10, and each class brightens one colour plane in its own quarter of the
/// image over seeded noise, so a few steps of training beat chance.
pub fn tiny_cifar(dir: &Path, train: usize, test: usize) -> PathBuf {
    use shatterlab::train::cifar::{IMAGE_BYTES, SIDE};
    let records = |n: usize, salt: u64| -> Vec<u8> {
        let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ salt;
        let mut noise = move || {
            // xorshift64*: enough for test pixels.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 58) as u8
        };
        let mut out = Vec::with_capacity(n * (1 + IMAGE_BYTES));
        for i in 0..n {
            let label = (i % 10) as u8;
            out.push(label);
            let (plane, quarter) = (usize::from(label) % 3, usize::from(label) / 3);
            for p in 0..IMAGE_BYTES {
                let (c, y, x) = (p / (SIDE * SIDE), (p / SIDE) % SIDE, p % SIDE);
                let q = 2 * (y / (SIDE / 2)) + x / (SIDE / 2);
                let lit = c == plane && q == quarter;
                out.push(if lit { 160 } else { 60 } + noise());
            }
        }
        out
    };
    std::fs::create_dir_all(dir).expect("data dir");
    std::fs::write(dir.join("data_batch_1.bin"), records(train, 1)).expect("train batch");
    std::fs::write(dir.join("test_batch.bin"), records(test, 2)).expect("test batch");
    dir.to_path_buf()
}
