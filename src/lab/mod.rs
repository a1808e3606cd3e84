//! The 1-D shattering experiment: gradients, their statistics and the theory they are
//! compared against.

pub mod bank;
pub mod depth_curves;
pub mod forward;
pub mod infinite;
pub mod inputs;
pub mod readout;
pub mod rectify;
pub mod reverse;
pub mod roundoff;
pub mod stats;
pub mod summary;
pub mod sweep;
pub mod theory;
