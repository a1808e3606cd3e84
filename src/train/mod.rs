//! CIFAR-10 training: the data and its download, the optimisers, a step-wise trainer, its
//! run logs and the headless commands.

pub mod checkpoint;
pub mod cifar;
pub mod config;
pub mod datadir;
pub mod download;
pub mod headless;
pub mod optim;
pub mod runlog;
pub mod trainer;
