//! What the lab's panes draw of one depth, reduced from a sweep's result off the UI thread:
//! statistics, a gradient trace, activity and pooled correlation matrices.

use crate::lab::readout::{Estimator, PointVectors};
use crate::lab::stats::Activity;
use crate::lab::sweep::{DepthResult, DepthStats};

/// Largest side of the pooled correlation matrix: more than any terminal pane can show, and
/// small enough to keep one per depth.
pub const HEAT_CELLS: usize = 64;

/// What the panes need from one depth, reduced off the UI thread: statistics, the first
/// net's gradient trace, activity histograms and the pooled P x P correlation under each
/// estimator.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthView {
    pub stats: DepthStats,
    /// g(x_p) of net 0.
    pub trace: Vec<f64>,
    pub activity: Activity,
    /// With the readout integrated out.
    pub heat_integrated: Heat,
    /// With each net's own readout.
    pub heat_random: Heat,
}

/// A square correlation matrix, block-averaged to `side` x `side`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Heat {
    pub side: usize,
    pub cells: Vec<f64>,
}

impl DepthView {
    /// Reduces one depth of a sweep over `points` grid points.
    pub fn new(result: DepthResult, points: usize) -> Self {
        let side = HEAT_CELLS.min(points);
        let heat = |v: &PointVectors| Heat {
            side,
            cells: v.pooled_correlation(side),
        };
        let heat_random = heat(&PointVectors::random(&result.grads, points));
        let mut trace = result.grads;
        trace.truncate(points);
        Self {
            stats: result.stats,
            trace,
            activity: result.activity,
            heat_integrated: heat(&result.integrated),
            heat_random,
        }
    }

    /// The correlation matrix under `estimator`.
    pub fn heat(&self, estimator: Estimator) -> &Heat {
        match estimator {
            Estimator::Integrated => &self.heat_integrated,
            Estimator::Random => &self.heat_random,
        }
    }
}
