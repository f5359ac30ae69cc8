//! Core types of gust, shared by every other crate. Nothing here does I/O.
//!
//! # Layout
//! - [`limits`]: the numeric limits AWS Lambda documents and gust enforces.
//! - [`name`]: function names, qualifiers and ARNs, parsed from what callers send.
//! - [`runtime`]: the runtimes gust can run.
//! - [`function`]: the resolved configuration of a function version.
//! - [`layer`]: layer names, version ARNs and the layers a function uses.
//! - [`error`]: [`CoreError`], the one error type the core returns to the gateway.
//! - [`invoke`]: what an invocation asks for and what it produced.

#![forbid(unsafe_code)]

pub mod error;
pub mod function;
pub mod invoke;
pub mod layer;
pub mod limits;
pub mod lineage;
pub mod name;
pub mod runtime;

pub use error::{without_host_paths, CoreError};
pub use function::FunctionConfig;
pub use invoke::{FunctionError, InvokeOutcome};
pub use name::{FunctionRef, Region};
pub use runtime::Runtime;
