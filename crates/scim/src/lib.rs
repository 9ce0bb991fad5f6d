//! SCIM 2.0 service provider (RFC 7643/7644) for the holding area.

pub mod filter;
pub mod schema;
