//! The embedded [`FunctionStore`](crate::FunctionStore): one SQLite file in WAL mode.
