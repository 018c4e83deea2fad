//! The two backends. Both compile the same query code (`common.rs`), with
//! backend-specific connection setup, write locking and migrations.

pub(crate) mod postgres;
pub(crate) mod sqlite;
