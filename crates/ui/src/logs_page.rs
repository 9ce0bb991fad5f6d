//! The Logs page: the tenant's audit log (who changed what, when, through which front
//! end and from where, with the state before and after), filtered by area, actor, dates
//! and text, paged newest first, and exported as CSV with the same filters. Every role
//! reads it; the filters are in the URL.

use crate::pages::{encode, render, Frame, Page};
use crate::session::InTenant;
use askama::Template;
use axum::extract::Query;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use scimgate_app::{AppError, AuditAction, AuditEntry, AuditFilter};
use serde::Deserialize;

/// Entries a page shows.
const PAGE: i64 = 50;
/// Entries an export holds at most.
const EXPORT: i64 = 1000;

#[derive(Deserialize, Default)]
pub struct LogQuery {
    #[serde(default)]
    area: String,
    #[serde(default)]
    who: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    text: String,
    /// An entry's id: the page of entries older than it. Not a number: the first page.
    #[serde(default)]
    before: Option<String>,
}

impl LogQuery {
    fn filter(&self, limit: i64) -> AuditFilter {
        AuditFilter {
            area: self.area.trim().to_owned(),
            who: self.who.trim().to_owned(),
            since: self.since.trim().to_owned(),
            until: self.until.trim().to_owned(),
            text: self.text.trim().to_owned(),
            before_id: self.before_id(),
            limit,
        }
    }

    fn before_id(&self) -> Option<i64> {
        self.before.as_deref().and_then(|b| b.trim().parse().ok())
    }

    /// The filters as a query string (without `before`).
    fn query_string(&self) -> String {
        format!(
            "area={}&who={}&since={}&until={}&text={}",
            encode(self.area.trim()),
            encode(self.who.trim()),
            encode(self.since.trim()),
            encode(self.until.trim()),
            encode(self.text.trim())
        )
    }
}

/// An entry as the page shows it: before and after readable.
struct Row {
    entry: AuditEntry,
    before: Option<String>,
    after: Option<String>,
}

/// A kept before/after as a person reads it: a text (a rule set's YAML) as itself,
/// anything else as indented JSON.
fn readable(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_else(|_| json.to_owned()),
        Err(_) => json.to_owned(),
    }
}

#[derive(Template)]
#[template(path = "logs.html")]
struct LogsPage {
    frame: Frame,
    area: String,
    areas: &'static [&'static str],
    who: String,
    since: String,
    until: String,
    text: String,
    entries: Vec<Row>,
    problem: Option<String>,
    export: String,
    newest: Option<String>,
    older: Option<String>,
}

pub async fn show(at: InTenant, Query(query): Query<LogQuery>) -> Response {
    let filter = query.filter(PAGE);
    let base = format!("/t/{}/logs", at.tenant.name);
    let (entries, problem, status) = match at.signed.app.audit_log(&at.tenant, &filter).await {
        Ok(entries) => (entries, None, StatusCode::OK),
        // A filter that is no filter (a typed date that is no date) says why.
        Err(AppError::Invalid(why)) => (Vec::new(), Some(why), StatusCode::BAD_REQUEST),
        Err(e) => return Page::internal(&e),
    };
    let filters = query.query_string();
    let full = entries.len() as i64 == PAGE;
    let view = LogsPage {
        frame: Frame::tenant("Logs", &at, "logs"),
        area: filter.area.clone(),
        areas: AuditAction::AREAS,
        who: filter.who.clone(),
        since: filter.since.clone(),
        until: filter.until.clone(),
        text: filter.text.clone(),
        export: format!("{base}/export?{filters}"),
        newest: query.before_id().map(|_| format!("{base}?{filters}")),
        older: (full)
            .then(|| {
                entries
                    .last()
                    .map(|e| format!("{base}?{filters}&before={}", e.id))
            })
            .flatten(),
        entries: entries
            .into_iter()
            .map(|entry| Row {
                before: entry.before.as_deref().map(readable),
                after: entry.after.as_deref().map(readable),
                entry,
            })
            .collect(),
        problem,
    };
    render(status, &view)
}

/// The filtered entries (newest first, up to [`EXPORT`]) as a CSV file.
pub async fn export(at: InTenant, Query(query): Query<LogQuery>) -> Response {
    match at
        .signed
        .app
        .audit_log(&at.tenant, &query.filter(EXPORT))
        .await
    {
        Ok(entries) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit-log.csv\"",
                ),
            ],
            scimgate_app::audit_csv(&entries),
        )
            .into_response(),
        Err(AppError::Invalid(why)) => Page::message(StatusCode::BAD_REQUEST, "Not exported", why),
        Err(e) => Page::internal(&e),
    }
}
