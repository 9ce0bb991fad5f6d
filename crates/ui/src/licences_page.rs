//! The Licences page: per user plan, the seats purchased (the catalogue), in use now
//! (the CRM's active accounts), in use after the next company sync (the stored preview)
//! and the users that sync would hold for lack of seats, with a link to them in the
//! Preview. Every role reads it.

use crate::pages::{render, Frame, Page};
use crate::session::InTenant;
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use scimgate_app::preview_page::Licence;

struct Row {
    licence: Licence,
    purchased: String,
    /// Seats left after the next sync, or how many are missing.
    left: String,
    short: bool,
}

#[derive(Template)]
#[template(path = "licences.html")]
struct LicencesPage {
    frame: Frame,
    rows: Vec<Row>,
    age: String,
    stale: bool,
    problem: Option<String>,
    held: u64,
}

pub async fn show(at: InTenant) -> Response {
    let app = &at.signed.app;
    let (licences, preview) = match app.licences(&at.tenant).await {
        Ok(found) => found,
        Err(e) => return Page::internal(&e),
    };
    let rows: Vec<Row> = licences
        .into_iter()
        .map(|licence| {
            let (purchased, left, short) = match licence.purchased {
                None => ("unlimited".to_owned(), "—".to_owned(), false),
                Some(p) if licence.held > 0 => {
                    (p.to_string(), format!("{} more needed", licence.held), true)
                }
                Some(p) => (
                    p.to_string(),
                    p.saturating_sub(licence.after_sync).to_string(),
                    false,
                ),
            };
            Row {
                licence,
                purchased,
                left,
                short,
            }
        })
        .collect();
    let now = app.clock().now().unix_millis();
    let page = LicencesPage {
        frame: Frame::tenant("Licences", &at, "licences"),
        held: rows.iter().map(|r| r.licence.held).sum(),
        rows,
        age: crate::preview_page::age(now, preview.summary.computed_at_ms),
        stale: preview.stale,
        problem: preview.summary.problem.clone(),
    };
    render(StatusCode::OK, &page)
}
