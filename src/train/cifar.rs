//! CIFAR-10 in the official binary format: loading with validation, per-channel
//! normalisation, seeded shuffling and augmentation into ready-to-use batches.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Side of an image in pixels.
pub const SIDE: usize = 32;
/// Colour channels (R, G, B planes).
pub const CHANNELS: usize = 3;
/// Pixel bytes of one image: three 32x32 planes.
pub const IMAGE_BYTES: usize = CHANNELS * SIDE * SIDE;
/// One record: a label byte followed by the pixels.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// Classes, labels 0..=9.
pub const CLASSES: usize = 10;
/// Largest shift of the shift augmentation, in pixels.
pub const MAX_SHIFT: usize = 4;

/// Training batch files of the official release, in order; any prefix may be present.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test batch file.
pub const TEST_FILE: &str = "test_batch.bin";

/// Images as raw bytes (record order) with their labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// `len() * IMAGE_BYTES` bytes, channel-major per image as in the files.
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Reads one binary batch file, checking its size and every label.
    pub fn load_file(path: &Path) -> anyhow::Result<Self> {
        let bytes = crate::fsio::read_regular(path, "CIFAR-10 file")?;
        Self::parse(&bytes)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("invalid CIFAR-10 file {}", path.display()))
    }

    /// Parses the records of one file's bytes; the error says what is wrong, without the name.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD_BYTES) {
            return Err(format!(
                "size {} bytes is not a positive multiple of the {RECORD_BYTES}-byte record \
                 (truncated, or not the binary version of CIFAR-10)",
                bytes.len()
            ));
        }
        let n = bytes.len() / RECORD_BYTES;
        let mut out = Self {
            pixels: Vec::with_capacity(n * IMAGE_BYTES),
            labels: Vec::with_capacity(n),
        };
        for (i, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
            let label = record[0];
            if usize::from(label) >= CLASSES {
                return Err(format!("record {i} has label {label}, expected 0..=9"));
            }
            out.labels.push(label);
            out.pixels.extend_from_slice(&record[1..]);
        }
        Ok(out)
    }

    /// Concatenates several files' records, in the order given.
    pub fn load_files(paths: &[PathBuf]) -> anyhow::Result<Self> {
        let mut all = Self::default();
        for path in paths {
            let part = Self::load_file(path)?;
            all.pixels.extend(part.pixels);
            all.labels.extend(part.labels);
        }
        Ok(all)
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixel bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES]
    }

    /// Images per class.
    pub fn class_counts(&self) -> [usize; CLASSES] {
        let mut counts = [0; CLASSES];
        self.labels
            .iter()
            .for_each(|&l| counts[usize::from(l)] += 1);
        counts
    }

    /// Per-channel pixel mean and (population) standard deviation on the 0..255 scale, over
    /// the first `n` images.
    pub fn channel_stats(&self, n: usize) -> ([f64; CHANNELS], [f64; CHANNELS]) {
        let n = n.min(self.len());
        let plane = SIDE * SIDE;
        let mut sum = [0f64; CHANNELS];
        let mut sq = [0f64; CHANNELS];
        for img in self.pixels[..n * IMAGE_BYTES].chunks_exact(IMAGE_BYTES) {
            for c in 0..CHANNELS {
                for &p in &img[c * plane..(c + 1) * plane] {
                    let p = f64::from(p);
                    sum[c] += p;
                    sq[c] += p * p;
                }
            }
        }
        let count = (n * plane).max(1) as f64;
        let mean = sum.map(|s| s / count);
        let mut std = [0.0; CHANNELS];
        for c in 0..CHANNELS {
            std[c] = (sq[c] / count - mean[c] * mean[c]).max(0.0).sqrt();
        }
        (mean, std)
    }
}

/// The training and test splits of one data directory.
#[derive(Clone, Debug)]
pub struct Cifar {
    pub train: Dataset,
    pub test: Dataset,
}

impl Cifar {
    /// Loads every `data_batch_k.bin` present (at least the first) and `test_batch.bin` from
    /// `dir`, the directory holding the `.bin` files.
    pub fn load_dir(dir: &Path) -> anyhow::Result<Self> {
        let first = dir.join(TRAIN_FILES[0]);
        anyhow::ensure!(
            present(&first),
            "CIFAR-10 file {} not found: pass --data-dir (or set SHATTERLAB_DATA) to the directory \
             holding the binary batches, or fetch them with `shatterlab data download`",
            first.display()
        );
        // Batches present but unusable (a directory, a dangling link) are errors, not gaps.
        let train_paths: Vec<PathBuf> = TRAIN_FILES
            .iter()
            .map(|f| dir.join(f))
            .take_while(|p| present(p))
            .collect();
        Ok(Self {
            train: Dataset::load_files(&train_paths)?,
            test: Dataset::load_file(&dir.join(TEST_FILE))?,
        })
    }
}

/// Whether anything (even a dangling link) sits at `path`.
fn present(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Per-channel affine map from bytes to roughly zero-mean, unit-variance inputs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalizer {
    pub mean: [f32; CHANNELS],
    pub std: [f32; CHANNELS],
}

impl Normalizer {
    /// Statistics of the first `n` images of `data`: the training images in use, so the
    /// test split never leaks in.
    pub fn fit(data: &Dataset, n: usize) -> Self {
        let (mean, std) = data.channel_stats(n);
        Self {
            mean: mean.map(|m| m as f32),
            std: std.map(|s| s.max(1e-3) as f32),
        }
    }
}

/// Random shift and flip for one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Augment {
    /// Shift in pixels (content moves right/down for positive values), in -4..=4.
    pub dx: i32,
    pub dy: i32,
    pub flip: bool,
}

impl Augment {
    /// The paper's augmentation: uniform shifts up to 4 px on each axis, flips with p = 1/2.
    pub fn sample(rng: &mut ChaCha8Rng) -> Self {
        let m = MAX_SHIFT as i32;
        Self {
            dx: rng.random_range(-m..=m),
            dy: rng.random_range(-m..=m),
            flip: rng.random_bool(0.5),
        }
    }
}

/// Writes image `img` normalised and augmented into `out` (IMAGE_BYTES floats, CHW).
/// Pixels shifted in from outside are 0 after normalisation, i.e. the channel mean:
/// zero padding in the network's input space.
pub fn write_image(img: &[u8], norm: &Normalizer, aug: Augment, out: &mut [f32]) {
    let side = SIDE as i32;
    for c in 0..CHANNELS {
        let plane = &img[c * SIDE * SIDE..(c + 1) * SIDE * SIDE];
        let (mean, inv) = (norm.mean[c], 1.0 / norm.std[c]);
        for y in 0..side {
            for x in 0..side {
                let sy = y - aug.dy;
                let sx0 = x - aug.dx;
                let sx = if aug.flip { side - 1 - sx0 } else { sx0 };
                let v = if (0..side).contains(&sy) && (0..side).contains(&sx) {
                    (f32::from(plane[(sy * side + sx) as usize]) - mean) * inv
                } else {
                    0.0
                };
                out[c * SIDE * SIDE + (y * side + x) as usize] = v;
            }
        }
    }
}

/// A batch ready for the network: `labels.len()` images, NCHW floats.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub inputs: Vec<f32>,
    pub labels: Vec<u32>,
}

/// Assembles the images at `indices`; with `rng`, each is randomly shifted and flipped.
pub fn make_batch(
    data: &Dataset,
    indices: &[usize],
    norm: &Normalizer,
    mut rng: Option<&mut ChaCha8Rng>,
) -> Batch {
    let mut inputs = vec![0f32; indices.len() * IMAGE_BYTES];
    for (&i, out) in indices.iter().zip(inputs.chunks_exact_mut(IMAGE_BYTES)) {
        let aug = rng.as_deref_mut().map(Augment::sample).unwrap_or_default();
        write_image(data.image(i), norm, aug, out);
    }
    Batch {
        inputs,
        labels: indices.iter().map(|&i| u32::from(data.labels[i])).collect(),
    }
}

/// A seeded permutation of 0..n: one epoch's visiting order.
pub fn shuffled(n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn record(label: u8, fill: u8) -> Vec<u8> {
        let mut r = vec![fill; RECORD_BYTES];
        r[0] = label;
        r
    }

    #[test]
    fn parse_rejects_bad_sizes_and_labels() {
        assert!(
            Dataset::parse(&[])
                .unwrap_err()
                .contains("multiple of the 3073-byte")
        );
        let mut two = record(3, 7);
        two.extend(record(9, 1));
        let d = Dataset::parse(&two).unwrap();
        assert_eq!(d.labels, vec![3, 9]);
        assert_eq!(d.image(1), &[1u8; IMAGE_BYTES][..]);
        assert!(Dataset::parse(&two[..two.len() - 1]).is_err());
        two[RECORD_BYTES] = 10;
        assert_eq!(
            Dataset::parse(&two).unwrap_err(),
            "record 1 has label 10, expected 0..=9"
        );
    }

    #[test]
    fn augment_shifts_flips_and_pads_with_zero() {
        let mut img = vec![0u8; IMAGE_BYTES];
        img[0] = 100; // red plane, (y=0, x=0)
        let norm = Normalizer {
            mean: [0.0; 3],
            std: [1.0; 3],
        };
        let mut out = vec![0f32; IMAGE_BYTES];
        write_image(
            &img,
            &norm,
            Augment {
                dx: 2,
                dy: 1,
                flip: false,
            },
            &mut out,
        );
        assert_eq!(out[SIDE + 2], 100.0);
        assert_eq!(out.iter().filter(|v| **v != 0.0).count(), 1);
        write_image(
            &img,
            &norm,
            Augment {
                dx: 0,
                dy: 0,
                flip: true,
            },
            &mut out,
        );
        assert_eq!(out[SIDE - 1], 100.0);
        // Shifted-in pixels are 0 even when the source would not be.
        let ones = vec![255u8; IMAGE_BYTES];
        write_image(
            &ones,
            &norm,
            Augment {
                dx: -4,
                dy: 0,
                flip: false,
            },
            &mut out,
        );
        assert_eq!(out[SIDE - 1], 0.0);
        assert_eq!(out[SIDE - 5], 255.0);
    }

    #[test]
    fn shuffles_are_seeded_permutations() {
        let a = shuffled(50, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(a, shuffled(50, &mut ChaCha8Rng::seed_from_u64(1)));
        assert_ne!(a, shuffled(50, &mut ChaCha8Rng::seed_from_u64(2)));
        let mut s = a.clone();
        s.sort_unstable();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
    }
}
