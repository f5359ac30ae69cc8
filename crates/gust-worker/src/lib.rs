//! gust's worker: it owns function instances. It starts them through a
//! [`Sandbox`](gust_sandbox::Sandbox), serves each one's Lambda Runtime API, hands them
//! invocations one at a time, captures their output as Lambda-style logs, and reports
//! why an invocation or an instance ended (timeout, crash, out of memory, init error).
//!
//! # Layout
//! - [`Worker`]: starts instances ([`Worker::start`]).
//! - [`Instance`]: one running instance; [`Instance::invoke`] runs one invocation.
//! - `runtime_api`: the per-instance Runtime API server (`/2018-06-01/runtime/...`).
//! - [`credentials`]: each function's own credentials, for the AWS SDKs it runs.
//! - [`Gateway`]: how instances reach gust's API (`AWS_ENDPOINT_URL`).
//! - [`streaming`]: streamed responses (`Lambda-Runtime-Function-Response-Mode: streaming`).
//! - `connections`: how many connections an instance may hold to it, and for how long.
//! - `output`: the pipe reader that turns stdout/stderr into log lines.
//! - [`FunctionLog`]: the bounded, followable log of one function.
//! - [`RuntimeHost`]: where the host's interpreters live.
//!
//! The worker knows nothing about warm stacks or capacity: the scheduler decides which
//! instance runs what; the worker is the source of truth for each instance's state.

#![forbid(unsafe_code)]

mod connections;
pub mod credentials;
mod env;
mod host;
mod instance;
pub mod logs;
mod output;
mod runtime_api;
mod runtime_version;
pub mod streaming;

pub use gust_sandbox::SandboxError as SandboxErrorKind;
pub use host::{RuntimeHost, RuntimeHostError};
pub use instance::{
    new_trace_ids, Gateway, Instance, InstanceSpec, Invocation, InvokeEnd, Report, StartError,
    Worker,
};
pub use logs::{FunctionLog, LogRecord};
