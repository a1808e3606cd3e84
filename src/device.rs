//! The candle device behind a `--device` setting, shared by the lab's sweeps and training.

use anyhow::Context;
use candle_core::Device;

use crate::config::DeviceKind;

/// The candle device for a setting, with a clear error where the build lacks it.
pub fn device_for(kind: DeviceKind) -> anyhow::Result<Device> {
    match kind {
        DeviceKind::Cpu => Ok(Device::Cpu),
        DeviceKind::Cuda => Device::new_cuda(0).context(
            "invalid device cuda (needs a build with `--features cuda` and an NVIDIA GPU)",
        ),
    }
}
