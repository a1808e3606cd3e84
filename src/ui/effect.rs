//! What `update` asks the event loop to do: a job for a sweep worker or for the training
//! worker. The loop routes each to its worker; `update` itself never does I/O.

use crate::worker::sweep::Job;
use crate::worker::train::TrainJob;

#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// For the sweep worker of the job's side.
    Sweep(Job),
    /// For the training worker.
    Train(TrainJob),
}
