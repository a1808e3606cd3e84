//! The CIFAR-10 loader on the real shared batches and on malformed files.

mod common;

use std::path::{Path, PathBuf};

use shatterlab::train::cifar::{Cifar, Dataset, RECORD_BYTES};

fn load(name: &str) -> Dataset {
    Dataset::load_file(&common::cifar_dir().join(name)).expect("shared CIFAR-10 file loads")
}

#[test]
fn batches_have_the_documented_class_counts() {
    assert_eq!(
        load("data_batch_1.bin").class_counts(),
        [1031, 993, 991, 1004, 1035, 952, 966, 1031, 977, 1020]
    );
    assert_eq!(
        load("data_batch_2.bin").class_counts(),
        [977, 1005, 1022, 1023, 995, 991, 985, 983, 1005, 1014]
    );
    assert_eq!(load("test_batch.bin").class_counts(), [1000; 10]);
}

#[test]
fn directory_load_has_labels_in_range_and_the_documented_pixel_stats() {
    let data = Cifar::load_dir(&common::cifar_dir()).expect("shared directory loads");
    assert_eq!(data.train.len(), 20_000);
    assert_eq!(data.test.len(), 10_000);
    assert!(
        data.train
            .labels
            .iter()
            .chain(&data.test.labels)
            .all(|&l| l <= 9)
    );

    // The test split is complete here: its statistics match the README to its rounding.
    let (mean, std) = data.test.channel_stats(data.test.len());
    for (got, want) in mean.iter().zip([125.99, 123.69, 114.85]) {
        assert!((got - want).abs() < 0.01, "test mean {mean:?}");
    }
    for (got, want) in std.iter().zip([62.44, 61.76, 66.45]) {
        assert!((got - want).abs() < 0.01, "test std {std:?}");
    }
    // Two of the five training batches: close to the full split's figures.
    let (mean, std) = data.train.channel_stats(data.train.len());
    for (got, want) in mean.iter().zip([125.27, 122.93, 113.86]) {
        assert!((got - want).abs() < 1.0, "train mean {mean:?}");
    }
    for (got, want) in std.iter().zip([62.53, 61.91, 66.46]) {
        assert!((got - want).abs() < 0.5, "train std {std:?}");
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

fn records(labels: &[u8]) -> Vec<u8> {
    labels
        .iter()
        .flat_map(|&l| std::iter::once(l).chain(std::iter::repeat_n(128u8, RECORD_BYTES - 1)))
        .collect()
}

#[test]
fn malformed_files_are_rejected_naming_the_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let good = records(&[0, 9, 4]);

    let truncated = write(tmp.path(), "truncated.bin", &good[..good.len() - 100]);
    let e = format!("{:#}", Dataset::load_file(&truncated).unwrap_err());
    assert!(
        e.contains("truncated.bin") && e.contains("3073-byte record"),
        "{e}"
    );

    let mut longer = good.clone();
    longer.extend([1, 2, 3]);
    let wrong = write(tmp.path(), "wrong_size.bin", &longer);
    let e = format!("{:#}", Dataset::load_file(&wrong).unwrap_err());
    assert!(
        e.contains("wrong_size.bin") && e.contains(&longer.len().to_string()),
        "{e}"
    );

    let empty = write(tmp.path(), "empty.bin", &[]);
    assert!(
        Dataset::load_file(&empty)
            .unwrap_err()
            .to_string()
            .contains("empty.bin")
    );

    let bad_label = write(tmp.path(), "label.bin", &records(&[3, 10, 2]));
    let e = format!("{:#}", Dataset::load_file(&bad_label).unwrap_err());
    assert!(
        e.contains("label.bin") && e.contains("record 1 has label 10"),
        "{e}"
    );

    let missing = tmp.path().join("data_batch_9.bin");
    let e = format!("{:#}", Dataset::load_file(&missing).unwrap_err());
    assert!(e.contains("data_batch_9.bin"), "{e}");

    // A directory without the batches names the file it looked for.
    let e = format!("{:#}", Cifar::load_dir(tmp.path()).unwrap_err());
    assert!(
        e.contains("data_batch_1.bin") && e.contains(&tmp.path().display().to_string()),
        "{e}"
    );

    // A present training batch but a missing test batch names the test file.
    write(tmp.path(), "data_batch_1.bin", &good);
    let e = format!("{:#}", Cifar::load_dir(tmp.path()).unwrap_err());
    assert!(e.contains("test_batch.bin"), "{e}");
    write(tmp.path(), "test_batch.bin", &records(&[1]));
    let data = Cifar::load_dir(tmp.path()).expect("small valid directory loads");
    assert_eq!((data.train.len(), data.test.len()), (3, 1));
}
