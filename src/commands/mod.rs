//! The headless commands, one module each: settings in (resolved by `cli`), output out.

pub mod data;
pub mod export;
pub mod figures;
pub mod grad;
pub mod study;
pub mod theory;
pub mod train;

use std::path::Path;

/// Checks `--depths` against the sweep depth; empty means all.
fn selected_depths(depths: &[usize], max: usize) -> anyhow::Result<Vec<usize>> {
    if let Some(bad) = depths.iter().find(|d| !(1..=max).contains(*d)) {
        anyhow::bail!(
            "invalid --depths entry {bad}: expected depths in 1..={max} (the --depth setting)"
        );
    }
    Ok(if depths.is_empty() {
        (1..=max).collect()
    } else {
        depths.to_vec()
    })
}

/// A report to `out` (atomically) or to stdout.
fn emit(text: &str, out: Option<&Path>) -> anyhow::Result<()> {
    match out {
        Some(path) => crate::fsio::write_file(path, text.as_bytes()),
        None => crate::fsio::Stdout::open()?.write(text.as_bytes()),
    }
}
