//! Unit and property tests of the workflow state machine, checked against how Temporal Server
//! 1.32 behaves. Every test drives the engine through its public operations on a [`Run`]
//! (see `builders`), with an explicit clock: no I/O and no sleeping.
//!
//! [`Run`]: builders::Run

mod activity;
mod activity_control;
mod builders;
mod children;
mod close;
mod continuation;
mod delivery;
mod determinism;
mod limits;
mod reset;
mod retention;
mod schedule;
mod signal;
mod start;
mod start_workflow;
mod store;
mod timer;
mod update;
mod workflow_task;
