//! The audit log over HTTP: `GET …/audit` with filters (`area`, `who`, `since`, `until`,
//! `text`), newest first, paged by `before` (an entry's id) and `limit`; `format=csv`
//! gives the same entries as a CSV file.

use super::call::Call;
use super::error::Result;
use super::params::{DEFAULT_LIMIT, MAX_LIMIT};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use scimgate_app::AuditFilter;
use serde_json::json;

pub async fn list(call: Call) -> Result<Response> {
    let params = call.params.only(&[
        "area", "who", "since", "until", "text", "before", "limit", "format",
    ])?;
    let text = |name| -> Result<String> { Ok(params.one(name)?.unwrap_or_default().to_owned()) };
    let limit = params.number("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let before = match params.one("before")? {
        Some(_) => Some(params.number("before", 0, i64::MAX as u64)? as i64),
        None => None,
    };
    let filter = AuditFilter {
        area: text("area")?,
        who: text("who")?,
        since: text("since")?,
        until: text("until")?,
        text: text("text")?,
        before_id: before,
        limit: limit as i64,
    };
    let format = text("format")?;
    let entries = call.app.audit_log(&call.tenant, &filter).await?;
    match format.as_str() {
        "csv" => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit.csv\"",
                ),
            ],
            scimgate_app::audit_csv(&entries),
        )
            .into_response()),
        "" | "json" => {
            // The next page starts below the last entry listed here.
            let next = (entries.len() as u64 == limit).then(|| entries.last().map(|e| e.id));
            Ok(Json(json!({ "entries": entries, "next_before": next.flatten() })).into_response())
        }
        other => Err(super::error::ApiError::bad_request(format!(
            "query parameter format: {other:?} is not json or csv"
        ))),
    }
}
