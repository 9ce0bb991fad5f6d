//! Domain types shared by every scimgate crate. No I/O, no HTTP, no SQL here.

pub mod clock;
pub mod tenant;
pub mod text;

pub use clock::{Clock, SystemClock, Timestamp};
pub use tenant::{TenantName, TenantNameError};
