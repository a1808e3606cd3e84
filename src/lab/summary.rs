//! What the lab's panes draw of one depth, reduced from a sweep's result off the UI thread:
//! statistics, a gradient trace, activity and a pooled correlation matrix.

use crate::lab::stats::{self, Activity};
use crate::lab::sweep::{DepthResult, DepthStats};

/// Largest side of the pooled correlation matrix: more than any terminal pane can show, and
/// small enough to keep one per depth.
pub const HEAT_CELLS: usize = 64;

/// What the panes need from one depth, reduced off the UI thread: statistics, the first
/// net's gradient trace, activity histograms and the pooled P x P correlation.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthView {
    pub stats: DepthStats,
    /// g(x_p) of net 0.
    pub trace: Vec<f64>,
    pub activity: Activity,
    pub heat: Heat,
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
        let moments = stats::second_moments(&result.grads, points);
        let corr = stats::correlation(&moments, points);
        let mut trace = result.grads;
        trace.truncate(points);
        Self {
            stats: result.stats,
            trace,
            activity: result.activity,
            heat: Heat::pool(&corr, points, HEAT_CELLS.min(points)),
        }
    }
}

impl Heat {
    /// Block-averages a `points` x `points` matrix down to `side` x `side`.
    pub fn pool(matrix: &[f64], points: usize, side: usize) -> Self {
        let span = |i: usize| (i * points / side)..((i + 1) * points / side);
        let mut cells = Vec::with_capacity(side * side);
        for r in 0..side {
            for c in 0..side {
                let (rows, cols) = (span(r), span(c));
                let count = (rows.len() * cols.len()) as f64;
                let sum: f64 = rows
                    .flat_map(|p| matrix[p * points..][cols.clone()].iter())
                    .sum();
                cells.push(sum / count);
            }
        }
        Self { side, cells }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_averages_blocks() {
        let m: Vec<f64> = (0..16).map(f64::from).collect();
        let heat = Heat::pool(&m, 4, 2);
        assert_eq!(heat.side, 2);
        assert_eq!(heat.cells, vec![2.5, 4.5, 10.5, 12.5]);
        assert_eq!(Heat::pool(&m, 4, 4).cells, m);
    }
}
