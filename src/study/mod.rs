//! Studies: a grid of training runs (families of settings x depths x seeds) for the paper's
//! accuracy-against-depth question (Fig. 6), planned from a spec, run by any number of
//! workers over one runs directory, and reported (groups of seeds with their standard
//! errors) from the run logs alone, also while runs are going.

pub mod lock;
pub mod plan;
pub mod report;
pub mod runner;
pub mod spec;
