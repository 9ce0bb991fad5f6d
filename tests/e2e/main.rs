//! End-to-end tests: the real server on 127.0.0.1:0 over HTTP, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod bad_input;
mod concurrency;
mod entra;
mod isolation;
mod notifications;
