//! The candle device behind a `--device` setting, shared by the lab's sweeps and training:
//! `auto` resolved once, before anything runs or the terminal opens, and the GPU's free
//! memory for the memory budget.

use candle_core::Device;

use crate::config::DeviceKind;

/// Whether this build can run candle on an NVIDIA GPU (`--features cuda`).
pub const CUDA_BUILT_IN: bool = cfg!(feature = "cuda");

/// The device a setting stands for, checked by opening it: `auto` becomes `cuda:0` when the
/// build has CUDA and that GPU answers, else `cpu` (said on stderr when a CUDA build finds no
/// GPU). An unusable device is a one-line error saying what to do.
pub fn resolve(kind: DeviceKind) -> anyhow::Result<DeviceKind> {
    match kind {
        DeviceKind::Auto if !CUDA_BUILT_IN => Ok(DeviceKind::Cpu),
        DeviceKind::Auto => match cuda_device(0) {
            Ok(_) => Ok(DeviceKind::Cuda(0)),
            Err(cause) => {
                let note = format!("device auto: cpu, as cuda:0 did not answer ({cause})");
                log::warn!("{note}");
                eprintln!("{note}");
                Ok(DeviceKind::Cpu)
            }
        },
        concrete => device_for(concrete).map(|_| concrete),
    }
}

/// The candle device for a setting.
pub fn device_for(kind: DeviceKind) -> anyhow::Result<Device> {
    match kind {
        DeviceKind::Cpu => Ok(Device::Cpu),
        DeviceKind::Cuda(index) => {
            anyhow::ensure!(
                CUDA_BUILT_IN,
                "invalid device cuda:{index}: this build has no CUDA; build one with \
                 `--features cuda` (scripts/build-cuda.sh) or use --device cpu or auto"
            );
            cuda_device(index).map_err(|cause| {
                anyhow::anyhow!(
                    "invalid device cuda:{index}: no usable NVIDIA GPU there ({cause}); check \
                     nvidia-smi and that the CUDA 13 libraries are on LD_LIBRARY_PATH, or use \
                     --device cpu or auto"
                )
            })
        }
        DeviceKind::Auto => device_for(resolve(kind)?),
    }
}

/// GPU `index`, or why CUDA refused it, in one line (candle's backtrace left out).
fn cuda_device(index: usize) -> Result<Device, String> {
    Device::new_cuda(index).map_err(|e| {
        let e = match e {
            candle_core::Error::WithBacktrace { inner, .. } => *inner,
            e => e,
        };
        e.to_string().replace('\n', " ")
    })
}

/// The free memory of GPU `index` as its driver reports it; None where it cannot say (and
/// in a build without CUDA).
pub fn gpu_free_memory(index: usize) -> Option<u64> {
    #[cfg(feature = "cuda")]
    {
        let device = Device::new_cuda(index).ok()?;
        let stream = device.as_cuda_device().ok()?.cuda_stream();
        let (free, _total) = stream.context().mem_get_info().ok()?;
        Some(free as u64)
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = index;
        None
    }
}

#[cfg(all(test, not(feature = "cuda")))]
mod tests {
    use super::*;

    #[test]
    fn without_cuda_auto_is_the_cpu_and_cuda_is_refused_saying_what_to_do() {
        assert_eq!(resolve(DeviceKind::Auto).unwrap(), DeviceKind::Cpu);
        assert_eq!(resolve(DeviceKind::Cpu).unwrap(), DeviceKind::Cpu);
        assert!(device_for(DeviceKind::Auto).unwrap().is_cpu());
        let e = resolve(DeviceKind::Cuda(1)).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid device cuda:1: this build has no CUDA")
                && e.contains("--features cuda")
                && e.contains("--device cpu"),
            "{e}"
        );
        assert_eq!(gpu_free_memory(0), None);
    }
}
