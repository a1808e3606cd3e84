//! The threads behind the lab: one sweep worker per A/B side and one training worker, each
//! with its own job and update protocol.

pub mod sweep;
pub mod train;
