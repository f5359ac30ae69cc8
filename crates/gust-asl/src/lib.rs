//! The Amazon States Language, as Step Functions runs it, for gust's workflows.
//! Nothing here does I/O: the engine (`gust-workflows`) calls in with JSON values
//! and gets JSON values or errors back.
//!
//! # Layout
//! - [`definition`]: the resolved form of a state machine the engine runs.
//! - [`parse`]: a definition's JSON → [`definition::StateMachine`], or AWS's
//!   diagnostics (`SCHEMA_VALIDATION_FAILED`, `MISSING_TRANSITION_TARGET`, ...) that
//!   point at the problem.
//! - [`errors`]: error names (`States.ALL`, `States.TaskFailed`, ...) and how
//!   Retry and Catch match them.
//! - [`eval`]: the run-time side: the JSONPath dialect and the context object
//!   (`path`), payload templates (`template`), the intrinsic functions
//!   (`intrinsics`), Choice rules (`choice`) and JSONata (`jsonata`).
//! - [`graph`]: a state machine drawn as SVG, each state coloured by its status.

#![forbid(unsafe_code)]

pub mod definition;
pub mod errors;
pub mod eval;
pub mod graph;
pub mod parse;
