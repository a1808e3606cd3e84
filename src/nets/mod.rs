//! Network parameters, drawn from the app's own seeded RNG so one seed gives the same nets
//! on every device.

pub mod conv;
pub mod init;
pub mod scalar;
