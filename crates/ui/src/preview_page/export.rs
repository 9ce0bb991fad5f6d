//! The Preview's CSV export (the whole filtered set, streamed) and *Recompute*.

use super::view::View;
use crate::pages::Page;
use crate::session::InTenant;
use axum::body::Body;
use axum::extract::Query;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use scimgate_app::preview_page;
use scimgate_app::{AppError, PreviewRow, PreviewRules};

/// Rows read per query while exporting.
const EXPORT_CHUNK: i64 = 2_000;

/// The whole filtered set as CSV, in the page's order, read and sent a chunk at a time
/// (formula-safe: see `scimgate_core::csv`).
pub async fn export(at: InTenant, Query(pairs): Query<Vec<(String, String)>>) -> Response {
    let view = View::parse(&pairs);
    let rules = view.rules();
    let app = at.signed.app.clone();
    let query = match view.query() {
        Ok(q) => q,
        Err(e) => return Page::message(StatusCode::BAD_REQUEST, "Export", e.to_string()),
    };
    let preview = match app.stored_preview(&at.tenant, rules).await {
        Ok(Some(p)) => p,
        Ok(None) => return Page::not_found(),
        Err(e) => return Page::internal(&e),
    };
    if let Some(problem) = preview_page::problem(&preview) {
        return Page::message(StatusCode::CONFLICT, "Export", problem.to_string());
    }
    let generation = preview.state.generation;
    let tenant = at.tenant.clone();
    struct Cursor {
        last: Option<PreviewRow>,
        header: bool,
        done: bool,
    }
    let start = Cursor {
        last: None,
        header: true,
        done: false,
    };
    let stream = futures_util::stream::unfold(start, move |mut cursor| {
        let (app, tenant, query) = (app.clone(), tenant.clone(), query.clone());
        async move {
            if cursor.done {
                return None;
            }
            let mut out = String::new();
            if cursor.header {
                cursor.header = false;
                out.push_str(&preview_page::csv_header());
                out.push_str("\r\n");
            }
            let chunk = app
                .preview_chunk(
                    &tenant,
                    rules,
                    generation,
                    &query,
                    cursor.last.as_ref(),
                    EXPORT_CHUNK,
                )
                .await;
            // The last chunk: if a recomputation replaced these rows meanwhile, some may
            // have gone; the download breaks rather than look complete.
            let chunk = match chunk {
                Ok(rows) if (rows.len() as i64) < EXPORT_CHUNK => {
                    match app.preview_generation(&tenant, rules).await {
                        Ok(Some(now)) if now == generation => Ok(rows),
                        Ok(_) => Err(AppError::Conflict(
                            "the preview was recomputed during the export: export again".into(),
                        )),
                        Err(e) => Err(e),
                    }
                }
                other => other,
            };
            match chunk {
                Ok(rows) => {
                    for row in &rows {
                        out.push_str(&preview_page::csv_line(row));
                        out.push_str("\r\n");
                    }
                    cursor.done = (rows.len() as i64) < EXPORT_CHUNK;
                    cursor.last = rows.into_iter().last();
                    Some((Ok::<_, std::io::Error>(out), cursor))
                }
                // Headers are sent: all that is left is to end the body short, which the
                // client sees as a broken download rather than a complete file.
                Err(e) => Some((
                    Err(std::io::Error::other(e.to_string())),
                    Cursor {
                        done: true,
                        ..cursor
                    },
                )),
            }
        }
    });
    let name = match rules {
        PreviewRules::Published => "preview",
        PreviewRules::Draft => "preview-draft",
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}-{name}.csv\"",
                    at.tenant.name.as_str()
                ),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// *Recompute* (Operators: it rewrites every row): the stored preview computed whole
/// now, then back to the page.
pub async fn recompute(posted: crate::forms::OperatorPosted) -> Response {
    let crate::forms::OperatorPosted(posted) = posted;
    let at = &posted.at;
    let fields = &posted.fields;
    let rules = match crate::forms::field(fields, "rules") {
        Some("draft") => PreviewRules::Draft,
        _ => PreviewRules::Published,
    };
    if let Err(e) = at.signed.app.recompute_preview(&at.tenant, rules).await {
        return Page::internal(&e);
    }
    let home = format!("/t/{}/preview", at.tenant.name.as_str());
    // Back to this tenant's Preview only, and only as a URL that is a valid header.
    let back = crate::forms::field(fields, "back")
        .filter(|b| b.starts_with(&format!("{home}?")) || *b == home)
        .filter(|b| b.bytes().all(|c| c.is_ascii_graphic()))
        .unwrap_or(&home);
    Redirect::to(back).into_response()
}
