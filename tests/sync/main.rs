//! Sync engine end to end: users and groups arrive over real SCIM HTTP, the scheduler
//! plans and applies, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod actions;
mod audit;
mod auth_failures;
mod auto;
mod fixture;
mod guard;
mod jobs;
mod review;
mod stored_preview;
mod target;
mod versions;
mod welcome;
