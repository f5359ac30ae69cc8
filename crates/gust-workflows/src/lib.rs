//! gust's workflows: the Step Functions API over a durable engine for the Amazon
//! States Language. The seed's coordinator (run a chain of functions), monitor
//! (read each result, decide the next step, report status changes) and recovery
//! (Catch, Retry, redrive) are this crate; its state storage is the store's
//! execution histories.
//!
//! # Layout
//! - [`Workflows`] (`service`): the running executions: starting, resuming after a
//!   restart, stopping, timing out, redriving, and reporting status changes to a
//!   monitoring function.
//! - [`api`]: the awsJson1_0 operations (`AWSStepFunctions.<Operation>`), JSON in
//!   and out, with AWS's error types.
//! - `engine`: the interpreter (frames, steps, the journal it resumes from).
//! - [`tasks`]: what the engine asks of the platform ([`tasks::Tasks`]).
//! - `tokens`: tasks waiting for a task token.
//! - [`graph`]: a machine or an execution drawn as SVG, states coloured by status.
//! - [`arn`], [`clock`]: names and times as Step Functions shows them.

#![forbid(unsafe_code)]

pub mod api;
pub mod arn;
pub mod clock;
mod engine;
pub mod graph;
mod service;
pub mod tasks;
mod tokens;

pub use service::{ExecutionStatus, Workflows};
