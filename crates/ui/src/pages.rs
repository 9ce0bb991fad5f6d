//! Rendering: the frame every page shares, and the pages for what went wrong (not
//! found, not allowed, a refused form, an internal error with the server log to read).

use crate::assets;
use crate::session::{InTenant, Signed};
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use scimgate_core::AdminRole;

/// What the pages need to know about the request being answered.
#[derive(Clone, Default)]
pub struct RequestContext {
    /// The id the server gave the request (`X-Request-Id`), for the error page: an
    /// admin who reports it lets the operator find the log lines.
    pub id: Option<String>,
    /// htmx asked (`HX-Request`): the answer is the page's body without the document
    /// around it, which htmx swaps in. A direct load, or htmx restoring history it lost,
    /// gets the whole page.
    pub fragment: bool,
}

tokio::task_local! {
    pub static REQUEST: RequestContext;
}

fn request_context() -> RequestContext {
    REQUEST.try_with(Clone::clone).unwrap_or_default()
}

/// Whether htmx asked for the request being answered.
pub fn is_fragment() -> bool {
    request_context().fragment
}

/// Percent-encodes a query value.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the frame shows: title, who is signed in, the tenant and its navigation.
pub struct Frame {
    pub title: String,
    pub css: &'static str,
    pub htmx: &'static str,
    pub js: &'static str,
    pub account: Option<String>,
    pub role: &'static str,
    pub csrf: String,
    pub tenant: Option<String>,
    /// `(href, label, current)`.
    pub nav: Vec<(String, &'static str, bool)>,
    /// The tenant's automatic sync, on or off (tenant pages only).
    pub auto_sync: Option<bool>,
    /// Runs waiting for an admin's approval.
    pub waiting: usize,
    /// The result of what the admin just did, shown as a toast.
    pub toast: Option<String>,
    /// Only the body, for htmx (see [`RequestContext::fragment`]).
    pub fragment: bool,
}

/// The tenant pages, in the order of the navigation.
const NAV: &[(&str, &str)] = &[
    ("overview", "Overview"),
    ("users", "Users"),
    ("rules", "Rules"),
    ("preview", "Preview"),
    ("runs", "Runs"),
    ("approvals", "Approvals"),
    ("licences", "Licences"),
    ("settings", "Settings"),
    ("connection", "Connection"),
    ("logs", "Logs"),
];

impl Frame {
    /// A page nobody is signed in to (sign-in, errors).
    pub fn bare(title: &str) -> Frame {
        Frame {
            title: title.to_owned(),
            css: assets::CSS_PATH,
            htmx: assets::HTMX_PATH,
            js: assets::JS_PATH,
            account: None,
            role: "",
            csrf: String::new(),
            tenant: None,
            nav: Vec::new(),
            auto_sync: None,
            waiting: 0,
            toast: None,
            fragment: request_context().fragment,
        }
    }

    /// A signed-in page outside a tenant (the tenant picker).
    pub fn signed(title: &str, signed: &Signed) -> Frame {
        Frame {
            account: Some(signed.account.name.clone()),
            role: signed.account.role.name(),
            csrf: signed.csrf.clone(),
            ..Frame::bare(title)
        }
    }

    /// A page of one tenant; `current` is its entry in the navigation.
    pub fn tenant(title: &str, at: &InTenant, current: &str) -> Frame {
        let name = at.tenant.name.as_str();
        Frame {
            tenant: Some(name.to_owned()),
            auto_sync: Some(at.status.user_sync_active),
            waiting: at.status.runs_waiting,
            nav: NAV
                .iter()
                .map(|(page, label)| (format!("/t/{name}/{page}"), *label, *page == current))
                .collect(),
            ..Frame::signed(title, &at.signed)
        }
    }

    /// The frame with a toast saying how what the admin did turned out.
    pub fn with_toast(self, toast: Option<String>) -> Frame {
        Frame { toast, ..self }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct Message {
    frame: Frame,
    message: String,
}

/// Renders a template as a page with `status`.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

pub struct Page;

impl Page {
    pub fn message(status: StatusCode, title: &str, message: String) -> Response {
        let page = Message {
            frame: Frame::bare(title),
            message,
        };
        render(status, &page)
    }

    pub fn not_found() -> Response {
        Page::message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such page.".into(),
        )
    }

    pub fn forbidden(needed: AdminRole) -> Response {
        let message = format!("This needs the {needed} role; ask an administrator.");
        Page::message(StatusCode::FORBIDDEN, "Not allowed", message)
    }

    pub fn csrf_refused() -> Response {
        let message = "The form was too old or came from elsewhere; reload the page and try again.";
        Page::message(StatusCode::FORBIDDEN, "Form refused", message.into())
    }

    /// An internal error: the details go to the server log, not to the page.
    pub fn internal(error: &dyn std::fmt::Display) -> Response {
        tracing::error!(error = %error, "a UI request failed");
        let message = match request_context().id {
            Some(id) => format!(
                "Something went wrong on the server. The server log has the details under \
                 request id {id}; quote it when you report this."
            ),
            None => "Something went wrong on the server; the server log has the details.".into(),
        };
        Page::message(StatusCode::INTERNAL_SERVER_ERROR, "Server error", message)
    }
}
