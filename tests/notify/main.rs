//! Notifications end to end: users arrive over real SCIM HTTP, sync runs record events
//! in the outbox, and the delivery worker sends them to a real SMTP server (aiosmtpd over
//! TCP) and a real webhook receiver, on SQLite and PostgreSQL. The clock is the test's:
//! retries are driven by moving it past the backoff, not by sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery;
mod end_to_end;
mod fixture;
mod grouping;
