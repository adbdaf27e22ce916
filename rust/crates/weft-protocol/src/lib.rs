//! The messages WEFT OS processes exchange, and how they are framed. Processes
//! share this crate and nothing else; `docs/protocol.md` describes every
//! message with examples.
//!
//! Today it holds the **session channel**: the Unix stream socket between one
//! app's `weft-runtime` process and the session supervisor. Each message is one
//! line of JSON (newline-delimited), at most [`session::MAX_LINE_BYTES`] long.

#![warn(missing_docs)]

pub mod session;
