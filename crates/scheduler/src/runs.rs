//! Run history: the types are the domain's (`scimgate_core::run`), the rows the store's
//! (`scimgate_store::runs`).

pub use scimgate_core::{Run, RunCounts, RunOutcome, RunStatus, RunUser, Trigger};
