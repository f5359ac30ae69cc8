//! Wire types: the JSON shapes of the Lambda API (`/2015-03-31/...`) and of gust's own
//! endpoints (`/gust/v1/...`). Serde structs only, shared by the server and the CLI so
//! the two cannot drift apart.
//!
//! # Layout
//! - [`lambda`]: request and response bodies of the Lambda management API.
//! - [`events`]: asynchronous invocation: event-invoke configs, invocation records,
//!   gust's async listing and built-in queues.
//! - [`gust`]: gust-only endpoints (logs, health).
//! - [`layers`]: layer versions, their listings and permissions.
//! - [`dashboard`]: what the web dashboard reads (series, overview, workflows).
//! - [`paths`]: URL paths and header names.
//! - [`urls`]: function URL configurations.
//! - [`schedules`]: gust's schedules (rate and cron rules).

#![forbid(unsafe_code)]

pub mod buckets;
pub mod dashboard;
pub mod events;
pub mod gust;
pub mod lambda;
pub mod layers;
pub mod paths;
pub mod schedules;
pub mod urls;
pub mod versions;
