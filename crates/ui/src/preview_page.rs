//! The Preview page: the stored preview (published or draft) as SuperOffice's second
//! tab shows it, with its counts strip, a filter under every column (the ten operators,
//! *is one of* and *changed*), sorting by header with a second key, a Columns dialog,
//! keyset paging and a streamed CSV export of the whole filtered set. Every state is in
//! the URL; every role reads it. The rows are SQL over the stored preview: a filter
//! never runs the rules (docs/sync.md#the-stored-preview).

use crate::pages::{encode, render, Frame, Page};
use crate::session::InTenant;
use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use scimgate_app::preview::{column_name, Column, PreviewQuery};
use scimgate_app::preview_page::PageAt;
use scimgate_app::{AppError, PreviewRow, PreviewRules, StoredPreview};

mod export;
mod view;

pub use export::{export, recompute};
use view::{View, PAGE_SIZES};

fn label(column: Column) -> &'static str {
    match column {
        Column::Name => "Name",
        Column::Username => "Username",
        Column::UserPlan => "User plan",
        Column::OwnerCompany => "Owner company",
        Column::PrimaryGroup => "Primary group",
        Column::SecondaryGroups => "Secondary group",
        Column::Role => "Role",
        Column::Confidential => "Confidential",
        Column::Action => "Action",
        Column::Changed => "Changed fields",
        Column::Email => "E-mail",
        Column::ExternalId => "externalId",
        Column::UserId => "User id",
        Column::Reason => "Reason",
        Column::SetBy => "Set by rule",
    }
}

/// The operators in the filter row: `(name, label)`.
const OPERATORS: [(&str, &str); 12] = [
    ("equals", "is equal to"),
    ("not_equals", "is not equal to"),
    ("contains", "contains"),
    ("not_contains", "does not contain"),
    ("starts_with", "starts with"),
    ("ends_with", "ends with"),
    ("null", "is null"),
    ("not_null", "is not null"),
    ("empty", "is empty"),
    ("not_empty", "is not empty"),
    ("one_of", "is one of (a|b)"),
    ("changed", "changed"),
];

struct ColumnView {
    name: &'static str,
    label: &'static str,
    sort_href: String,
    /// `ascending`, `descending` or `none` (aria-sort).
    sorted: &'static str,
    op: String,
    value: String,
    clear_href: Option<String>,
}

struct RowView {
    user_id: String,
    /// The user page, for staged users.
    href: Option<String>,
    action: String,
    cells: Vec<String>,
}

struct CountView {
    label: &'static str,
    count: u64,
    href: Option<String>,
    current: bool,
}

struct ColumnChoice {
    name: &'static str,
    label: &'static str,
    shown: bool,
}

#[derive(Template)]
#[template(path = "preview.html")]
struct PreviewPageView {
    frame: Frame,
    path: String,
    draft: bool,
    has_draft: bool,
    published_href: String,
    draft_href: String,
    rule_version: i64,
    age: String,
    stale: bool,
    problem: Option<String>,
    error: Option<String>,
    counts: Vec<CountView>,
    changed_only: bool,
    changed_href: String,
    columns: Vec<ColumnView>,
    choices: Vec<ColumnChoice>,
    operators: Vec<(&'static str, &'static str)>,
    hidden: Vec<(String, String)>,
    state: Vec<(String, String)>,
    can_recompute: bool,
    rows: Vec<RowView>,
    shown: String,
    previous: Option<String>,
    next: Option<String>,
    first: Option<String>,
    sizes: Vec<(i64, bool)>,
    then: String,
    then_choices: Vec<(String, &'static str)>,
    clear_all: String,
    export: String,
    return_to: String,
}

/// Seconds, minutes or hours since `ms`, for "computed … ago".
pub(crate) fn age(now_ms: i64, then_ms: i64) -> String {
    let s = (now_ms - then_ms).max(0) / 1000;
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

fn cell(column: Column, row: &PreviewRow) -> String {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    match column {
        Column::Name => text(&row.name),
        Column::Username => row.username.clone(),
        Column::UserPlan => text(&row.user_plan),
        Column::OwnerCompany => text(&row.owner_company),
        Column::PrimaryGroup => text(&row.primary_group),
        Column::SecondaryGroups => row
            .secondary_groups
            .as_ref()
            .map(|g| g.join(", "))
            .unwrap_or_default(),
        Column::Role => text(&row.role),
        Column::Confidential => match row.confidential {
            Some(true) => "Yes".into(),
            Some(false) => "No".into(),
            None => String::new(),
        },
        Column::Action => row.action.clone(),
        Column::Changed => row.changed.join(", "),
        Column::Email => text(&row.email),
        Column::ExternalId => text(&row.external_id),
        Column::UserId => row.user_id.clone(),
        Column::Reason => text(&row.reason),
        Column::SetBy => text(&row.set_by),
    }
}

/// The page's state from the URL; `Err` is where to go instead, when the Columns dialog
/// moved a column.
fn read(pairs: &[(String, String)], tenant: &str) -> Result<View, String> {
    let view = View::parse(pairs);
    let moved = pairs.iter().find(|(k, _)| k == "move").map(|(_, v)| v);
    let Some(moved) = moved else {
        return Ok(view);
    };
    let (way, name) = moved.split_once(':').unwrap_or(("", ""));
    let mut columns = view.columns.clone();
    if let Some(n) = columns.iter().position(|c| column_name(*c) == name) {
        match way {
            "up" if n > 0 => columns.swap(n, n - 1),
            "down" if n + 1 < columns.len() => columns.swap(n, n + 1),
            _ => {}
        }
    }
    let view = view.with(|v| v.columns = columns);
    Err(view.href(tenant, "preview", &[]))
}

pub async fn show(at: InTenant, Query(pairs): Query<Vec<(String, String)>>) -> Response {
    let tenant = at.tenant.name.as_str().to_owned();
    let view = match read(&pairs, &tenant) {
        Ok(view) => view,
        Err(moved) => return Redirect::to(&moved).into_response(),
    };
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let at_page = match (get("after"), get("before")) {
        (Some(after), _) => PageAt::After(after),
        (None, Some(before)) => PageAt::Before(before),
        (None, None) => PageAt::First,
    };
    let from: i64 = get("from")
        .and_then(|f| f.parse().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000_000);
    let app = &at.signed.app;
    let rules = view.rules();
    let has_draft = match app.rule_draft(&at.tenant).await {
        Ok(d) => d.value.is_some(),
        Err(e) => return Page::internal(&e),
    };
    let preview: Option<StoredPreview> = match app.stored_preview(&at.tenant, rules).await {
        Ok(p) => p,
        Err(e) => return Page::internal(&e),
    };
    let Some(preview) = preview else {
        // A draft was asked for and there is none (discarded or published meanwhile).
        let published = view.with(|v| v.rules = None);
        return Redirect::to(&published.href(&tenant, "preview", &[])).into_response();
    };
    let mut error = None;
    let query = match view.query() {
        Ok(query) => query,
        Err(e) => {
            error = Some(e.to_string());
            match view.with(|v| v.filters.clear()).query() {
                Ok(q) => q,
                Err(e) => {
                    error = Some(e.to_string());
                    PreviewQuery::parse([], None, None).unwrap_or_else(|_| unreachable_query())
                }
            }
        }
    };
    let problem = preview.summary.problem.clone();
    let mut page = None;
    if problem.is_none() {
        match app
            .preview_page(
                &at.tenant,
                rules,
                preview.clone(),
                &query,
                &at_page,
                (0, view.size),
            )
            .await
        {
            Ok(p) => page = Some(p),
            Err(AppError::Invalid(message)) => error = Some(message),
            Err(e) => return Page::internal(&e),
        }
    }
    let summary = &preview.summary;
    let action_filter = view
        .filters
        .iter()
        .find(|(c, op, _)| *c == Column::Action && op == "equals")
        .map(|(_, _, v)| v.to_lowercase());
    let count_link = |action: &str| {
        let linked = view.with(|v| {
            v.filters.retain(|(c, _, _)| *c != Column::Action);
            v.filters
                .push((Column::Action, "equals".into(), action.to_owned()));
        });
        Some(linked.href(&tenant, "preview", &[]))
    };
    let totals = &summary.totals;
    let held = if summary.deprovisions_held {
        totals.deprovision
    } else {
        0
    };
    let mut counts = vec![
        CountView {
            label: "Received",
            count: totals.users_received,
            href: Some(
                view.with(|v| v.filters.retain(|(c, _, _)| *c != Column::Action))
                    .href(&tenant, "preview", &[]),
            ),
            current: action_filter.is_none(),
        },
        CountView {
            label: "Will sync",
            count: totals.users_synced,
            href: None,
            current: false,
        },
    ];
    for (label, action, count) in [
        ("Create", "create", totals.create),
        ("Update", "update", totals.update),
        ("Deprovision", "deprovision", totals.deprovision),
        ("Unchanged", "unchanged", totals.unchanged),
        ("Error", "error", totals.error),
    ] {
        counts.push(CountView {
            label,
            count,
            href: count_link(action),
            current: action_filter.as_deref() == Some(action),
        });
    }
    counts.push(CountView {
        label: "Held",
        count: held,
        href: (held > 0).then(|| count_link("deprovision")).flatten(),
        current: false,
    });
    let primary = query.sort.first().copied();
    let columns = view
        .columns
        .iter()
        .map(|&column| {
            let name = column_name(column);
            let sorted = match primary {
                Some(s) if s.column == column && s.descending => "descending",
                Some(s) if s.column == column => "ascending",
                _ => "none",
            };
            let next_sort = if sorted == "ascending" {
                format!("-{name}")
            } else {
                name.to_owned()
            };
            let (op, value) = view
                .filters
                .iter()
                .find(|(c, _, _)| *c == column)
                .map(|(_, op, v)| (op.clone(), v.clone()))
                .unwrap_or_default();
            ColumnView {
                name,
                label: label(column),
                sort_href: view
                    .with(|v| v.sort = next_sort)
                    .href(&tenant, "preview", &[]),
                sorted,
                clear_href: (!op.is_empty()).then(|| {
                    view.with(|v| v.filters.retain(|(c, _, _)| *c != column))
                        .href(&tenant, "preview", &[])
                }),
                op,
                value,
            }
        })
        .collect();
    let choices = {
        let mut all: Vec<ColumnChoice> = view
            .columns
            .iter()
            .map(|c| ColumnChoice {
                name: column_name(*c),
                label: label(*c),
                shown: true,
            })
            .collect();
        for (column, name) in scimgate_app::preview::COLUMNS {
            if !view.columns.contains(&column) {
                all.push(ColumnChoice {
                    name,
                    label: label(column),
                    shown: false,
                });
            }
        }
        all
    };
    // What the filter form's own fields do not carry: the rule set, the sort, the
    // columns, and filters on columns not shown (a count link filters on Action).
    let shown_names: Vec<&str> = view.columns.iter().map(|c| column_name(*c)).collect();
    let hidden: Vec<(String, String)> = view
        .pairs()
        .into_iter()
        .filter(|(k, _)| {
            let column = k.strip_prefix("op_").or_else(|| k.strip_prefix("v_"));
            match column {
                Some(name) => !shown_names.contains(&name),
                None => !matches!(k.as_str(), "size" | "then" | "changed"),
            }
        })
        .collect();
    // The Columns form carries everything but the columns themselves.
    let state: Vec<(String, String)> = view
        .pairs()
        .into_iter()
        .filter(|(k, _)| k != "col")
        .collect();
    let (rows, shown, previous, next, first) = match &page {
        Some(page) => {
            let rows: Vec<RowView> = page
                .rows
                .iter()
                .map(|r| RowView {
                    user_id: r.user_id.clone(),
                    href: r
                        .staged
                        .then(|| format!("/t/{tenant}/users/{}", encode(&r.user_id))),
                    action: r.action.clone(),
                    cells: view.columns.iter().map(|c| cell(*c, r)).collect(),
                })
                .collect();
            let total = page.matching.total;
            let start = if matches!(at_page, PageAt::Before(_)) {
                (from - view.size).max(1)
            } else {
                from
            };
            let end = start + rows.len() as i64 - 1;
            let shown = if rows.is_empty() {
                "No user matches.".to_owned()
            } else {
                format!(
                    "{}–{} of {}",
                    group(start as u64),
                    group(end as u64),
                    group(total)
                )
            };
            let previous = page.previous.as_ref().map(|c| {
                view.href(
                    &tenant,
                    "preview",
                    &[("before", c.clone()), ("from", start.to_string())],
                )
            });
            let next = page.next.as_ref().map(|c| {
                view.href(
                    &tenant,
                    "preview",
                    &[("after", c.clone()), ("from", (end + 1).to_string())],
                )
            });
            let first = (start > 1).then(|| view.href(&tenant, "preview", &[]));
            (rows, shown, previous, next, first)
        }
        None => (Vec::new(), String::new(), None, None, None),
    };
    let now = app.clock().now().unix_millis();
    let then_choices = scimgate_app::preview::COLUMNS
        .iter()
        .flat_map(|(c, n)| [(n.to_string(), label(*c)), (format!("-{n}"), label(*c))])
        .collect();
    let return_to = view.href(&tenant, "preview", &[]);
    let page_view = PreviewPageView {
        frame: Frame::tenant("Preview", &at, "preview"),
        path: format!("/t/{tenant}/preview"),
        draft: rules == PreviewRules::Draft,
        has_draft,
        published_href: view.with(|v| v.rules = None).href(&tenant, "preview", &[]),
        draft_href: view.with(|v| v.rules = Some(PreviewRules::Draft)).href(
            &tenant,
            "preview",
            &[],
        ),
        rule_version: summary.rule_version,
        age: age(now, summary.computed_at_ms),
        stale: preview.stale,
        problem,
        error,
        counts,
        changed_only: view.changed_only,
        changed_href: view
            .with(|v| v.changed_only = !v.changed_only)
            .href(&tenant, "preview", &[]),
        columns,
        choices,
        operators: OPERATORS.to_vec(),
        hidden,
        state,
        can_recompute: at
            .signed
            .account
            .role
            .allows(scimgate_core::AdminRole::Operator),
        rows,
        shown,
        previous,
        next,
        first,
        sizes: PAGE_SIZES.iter().map(|s| (*s, *s == view.size)).collect(),
        then: view.then.clone(),
        then_choices,
        clear_all: view
            .with(|v| {
                v.filters.clear();
                v.changed_only = false;
            })
            .href(&tenant, "preview", &[]),
        export: view.href(&tenant, "preview/export", &[]),
        return_to,
    };
    render(StatusCode::OK, &page_view)
}

/// The default query cannot fail to parse; if it ever did, sort by username anyway.
fn unreachable_query() -> PreviewQuery {
    PreviewQuery {
        filters: Vec::new(),
        sort: vec![scimgate_store::PreviewSort {
            column: Column::Username,
            descending: false,
        }],
    }
}

/// 12345 → "12,345".
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_ages_read() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(12_345), "12,345");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(age(10_000, 0), "10 s ago");
        assert_eq!(age(180_000, 0), "3 min ago");
    }
}
