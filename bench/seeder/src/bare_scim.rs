//! The ceiling for SCIM lookups on this machine (issue 14): a bare axum server that answers
//! every GET with the same 1 KB SCIM ListResponse, doing no work. `bench/run.sh` (TAILS=1)
//! runs the lookup workload against it in the same run as against scimgate, and reports
//! scimgate's lookup rate as a share of this.
//!
//!   bare-scim 127.0.0.1:PORT

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Router;

/// A ListResponse of one Entra-shaped user, about 1 KB, as a lookup by userName answers.
const LIST_RESPONSE: &str = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"startIndex":1,"itemsPerPage":1,"Resources":[{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"id":"0b0e4a4c-3f5e-4d52-9a8e-6f3c2a1b9d70","externalId":"ext-17","userName":"seed-17@bench.example","active":true,"displayName":"Seed User 17","emails":[{"primary":true,"type":"work","value":"seed-17@bench.example"}],"name":{"formatted":"Seed User 17","familyName":"User","givenName":"Seed17"},"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales"},"groups":[],"meta":{"resourceType":"User","created":"2026-12-07T10:00:00.000Z","lastModified":"2026-12-07T10:00:00.000Z","version":"W/\"1\"","location":"http://127.0.0.1/scim/v2/bench/Users/0b0e4a4c-3f5e-4d52-9a8e-6f3c2a1b9d70"}}]}"#;

async fn list_response() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/scim+json")], LIST_RESPONSE)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18099".into());
    let app = Router::new().fallback(list_response);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
