//! CIFAR-10 training: the data and its download, the optimisers, a step-wise trainer, its
//! run logs and the lifecycle of a run (`session`) shared by `train` and the TUI.

pub mod checkpoint;
pub mod cifar;
pub mod config;
pub mod datadir;
pub mod download;
pub mod history;
pub mod optim;
pub mod runlog;
pub mod session;
pub mod trainer;
