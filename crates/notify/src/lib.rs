//! Notifications: admins subscribe e-mail addresses and webhooks to critical events; each
//! message is written to an outbox in the transaction of the event that caused it and
//! delivered by a worker with retries. A problem that recurs is one message (grouped by
//! fingerprint), and its end is one "resolved" message. docs/design.md §6.

pub mod auth_failures;
pub mod deliver;
pub mod email;
pub mod event;
pub mod outbox;
pub mod subscriptions;
pub mod target;
pub mod welcome;

pub use event::{Event, EventKind, RunReport};
pub use subscriptions::{Channel, Subscription};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] scimgate_store::StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error("corrupt notification data: {0}")]
    Corrupt(String),
}

pub type Result<T, E = NotifyError> = std::result::Result<T, E>;
