//! shatterlab: a terminal lab for the shattered gradients problem (Balduzzi et al. 2017,
//! "The Shattered Gradients Problem: If resnets are the answer, then what is the question?").

pub mod budget;
pub mod cli;
pub mod commands;
pub mod config;
pub mod device;
pub mod export;
pub mod fsio;
pub mod kernels;
pub mod lab;
pub mod manpage;
pub mod nets;
pub mod output;
pub mod shutdown;
pub mod study;
pub mod train;
pub mod ui;
pub mod worker;
pub mod xdg;
