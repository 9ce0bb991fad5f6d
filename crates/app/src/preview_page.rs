//! The stored preview as the Preview page, the admin API and the CLI read it: a page
//! of rows under a query, the counts of what matches, and its age.

use crate::preview::{cursor_of, parse_cursor, PreviewQuery};
use crate::{App, Result};
use scimgate_core::Tenant;
use scimgate_scheduler::{Refresh, StoredPreview};
use scimgate_store::{PreviewCounts, PreviewCursor, PreviewRow, PreviewRules};

pub use scimgate_store::PreviewRules as Rules;

/// Where a page starts, as the URL says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageAt {
    First,
    /// After the row with this cursor (`after=`).
    After(String),
    /// Before it (`before=`, a page back).
    Before(String),
}

/// Rows in one page at most.
pub const MAX_PAGE: i64 = 1_000;

/// A page of the stored preview.
#[derive(Debug, Clone)]
pub struct PreviewPage {
    pub preview: StoredPreview,
    pub rows: Vec<PreviewRow>,
    /// What matches the filters, by action (the whole preview without filters).
    pub matching: PreviewCounts,
    /// The cursors of the next and the previous page, when there are such pages.
    pub next: Option<String>,
    pub previous: Option<String>,
}

/// What a company sync would do now, as the Sync company dialog says it.
#[derive(Debug, Clone)]
pub struct SyncForecast {
    pub preview: StoredPreview,
    /// Welcome e-mails the run would queue; `None` when welcome e-mails are off.
    pub welcome: Option<u64>,
    /// Users refused for lack of seats, by reason (it names the plan and its seats).
    pub seat_refusals: Vec<(String, u64)>,
    /// Users in error for another reason, by reason.
    pub errors: Vec<(String, u64)>,
}

/// One user plan on the Licences page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Licence {
    pub user_plan: String,
    /// `None`: the catalogue sets no limit.
    pub purchased: Option<u64>,
    /// Active accounts on the plan now.
    pub in_use: u64,
    /// Once the next company sync is applied (the stored preview).
    pub after_sync: u64,
    /// Users the next sync refuses for lack of this plan's seats.
    pub held: u64,
}

/// A preview's totals as the counts of its rows.
fn counts_of(totals: &scimgate_scheduler::Totals) -> PreviewCounts {
    let by_action: Vec<(String, u64)> = [
        ("create", totals.create),
        ("deprovision", totals.deprovision),
        ("error", totals.error),
        ("unchanged", totals.unchanged),
        ("update", totals.update),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(a, n)| (a.to_owned(), n))
    .collect();
    PreviewCounts {
        total: by_action.iter().map(|(_, n)| n).sum(),
        synced: totals.users_synced,
        staged: totals.users_received,
        by_action,
    }
}

/// Why `preview` has no rows, as the error a front end shows: nothing published yet
/// (404), or rules that do not compile against the catalogue (400).
pub fn problem(preview: &StoredPreview) -> Option<crate::AppError> {
    let summary = &preview.summary;
    let message = summary.problem.clone()?;
    Some(if summary.no_rules {
        crate::AppError::NotFound(message)
    } else {
        crate::AppError::Invalid(message)
    })
}

/// A stored preview is brought up to date inside a request only when a whole
/// computation is quick; a larger one is the background refresher's, and the page says
/// how old it is.
const INLINE_REFRESH_MS: i64 = 500;

impl App {
    /// The stored preview of `rules`, computed if there is none; kept current by the
    /// background refresher, or here when that is quick. `None`: no draft.
    pub async fn stored_preview(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
    ) -> Result<Option<StoredPreview>> {
        let preview = self
            .syncer
            .stored_preview(tenant, rules, Refresh::IfMissing)
            .await?;
        match preview {
            Some(p) if p.stale && p.state.full_refresh_ms < INLINE_REFRESH_MS => Ok(self
                .syncer
                .stored_preview(tenant, rules, Refresh::IfStale)
                .await?),
            other => Ok(other),
        }
    }

    /// The stored preview brought up to date now, however long that takes (the admin
    /// API, the CLI and tests want what a sync would do at this moment).
    pub async fn current_preview(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
    ) -> Result<Option<StoredPreview>> {
        Ok(self
            .syncer
            .stored_preview(tenant, rules, Refresh::IfStale)
            .await?)
    }

    /// Recomputes the stored preview whole (an admin's *Recompute*).
    pub async fn recompute_preview(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
    ) -> Result<Option<StoredPreview>> {
        Ok(self
            .syncer
            .stored_preview(tenant, rules, Refresh::Full)
            .await?)
    }

    /// A page of `preview` under `query`: `limit` rows from `at`, after skipping
    /// `offset` (the admin API's paging; pages in the UI move by cursor).
    pub async fn preview_page(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
        preview: StoredPreview,
        query: &PreviewQuery,
        at: &PageAt,
        (offset, limit): (i64, i64),
    ) -> Result<PreviewPage> {
        let limit = limit.clamp(1, MAX_PAGE);
        let generation = preview.state.generation;
        let cursor = match at {
            PageAt::First => PreviewCursor::First,
            PageAt::After(text) => {
                let (keys, id) = parse_cursor(&query.sort, text)?;
                PreviewCursor::After(keys, id)
            }
            PageAt::Before(text) => {
                let (keys, id) = parse_cursor(&query.sort, text)?;
                PreviewCursor::Before(keys, id)
            }
        };
        let backwards = matches!(cursor, PreviewCursor::Before(..));
        let stored_query = scimgate_store::PreviewQuery {
            filters: query.filters.clone(),
            sort: query.sort.clone(),
            cursor,
            // One more than asked: whether another page follows in this direction.
            limit: limit + 1,
            offset,
        };
        // The page and the count each read the matching rows: side by side, on two
        // connections, the page waits for the slower of them rather than for both.
        let page = (self.store).preview_page(tenant, rules, generation, &stored_query);
        let count = async {
            // Without filters the whole preview matches: its totals say how much.
            if query.filters.is_empty() {
                Ok(counts_of(&preview.summary.totals))
            } else {
                (self.store)
                    .preview_counts(tenant, rules, generation, &query.filters)
                    .await
            }
        };
        let (mut rows, matching) = futures_util::future::try_join(page, count).await?;
        let more = rows.len() as i64 > limit;
        if more {
            if backwards {
                rows.remove(0);
            } else {
                rows.pop();
            }
        }
        let (has_next, has_previous) = match at {
            PageAt::First => (more, false),
            PageAt::After(_) => (more, true),
            PageAt::Before(_) => (true, more),
        };
        Ok(PreviewPage {
            next: (has_next && !rows.is_empty())
                .then(|| rows.last().map(|r| cursor_of(&query.sort, r)))
                .flatten(),
            previous: (has_previous && !rows.is_empty())
                .then(|| rows.first().map(|r| cursor_of(&query.sort, r)))
                .flatten(),
            preview,
            rows,
            matching,
        })
    }

    /// What a company sync with the published rules would do now: the stored
    /// preview's counts, welcome e-mails, seats short and whether the guard holds it.
    pub async fn sync_forecast(&self, tenant: &Tenant) -> Result<SyncForecast> {
        let rules = PreviewRules::Published;
        let preview = (self.stored_preview(tenant, rules).await?)
            .ok_or_else(|| crate::AppError::NotFound("nothing is published yet".into()))?;
        if let Some(problem) = problem(&preview) {
            return Err(problem);
        }
        let generation = preview.state.generation;
        let settings = self.store.sync_settings(tenant).await?;
        let welcome = if settings.welcome_email {
            Some(self.welcome_count(tenant, generation).await?)
        } else {
            None
        };
        let seat_refusals = self.seat_refusals(tenant, generation).await?;
        let errors = (self.store)
            .preview_reasons(tenant, rules, generation, ("error", None))
            .await?
            .into_iter()
            .filter(|(reason, _)| !scimgate_scheduler::plan::is_seat_refusal(reason))
            .collect();
        Ok(SyncForecast {
            preview,
            welcome,
            seat_refusals,
            errors,
        })
    }

    /// Per user plan: seats purchased, in use now, in use after the next company sync,
    /// and users held for lack of seats; with the stored preview it was counted from.
    pub async fn licences(&self, tenant: &Tenant) -> Result<(Vec<Licence>, StoredPreview)> {
        let rules = PreviewRules::Published;
        let preview = (self.stored_preview(tenant, rules).await?)
            .ok_or_else(|| crate::AppError::NotFound("nothing is published yet".into()))?;
        let in_use: std::collections::HashMap<String, u64> = (self.syncer.crm())
            .seats_in_use(tenant)
            .await?
            .into_iter()
            .collect();
        let refusals = self.seat_refusals(tenant, preview.state.generation).await?;
        let mut licences: Vec<Licence> = preview
            .summary
            .seats
            .iter()
            .map(|seat| {
                // The planner's reason names the plan as `user plan "X" has no free seat`.
                let named = format!("user plan {:?} ", seat.user_plan);
                Licence {
                    user_plan: seat.user_plan.clone(),
                    purchased: seat.purchased,
                    in_use: in_use.get(&seat.user_plan).copied().unwrap_or(0),
                    after_sync: seat.used,
                    held: refusals
                        .iter()
                        .filter(|(r, _)| r.starts_with(&named))
                        .filter(|(r, _)| scimgate_scheduler::plan::is_seat_refusal(r))
                        .map(|(_, n)| n)
                        .sum(),
                }
            })
            .collect();
        // Plans accounts hold that the preview does not list (no rules yet).
        for (plan, used) in in_use {
            if !licences.iter().any(|l| l.user_plan == plan) {
                licences.push(Licence {
                    user_plan: plan,
                    purchased: None,
                    in_use: used,
                    after_sync: used,
                    held: 0,
                });
            }
        }
        Ok((licences, preview))
    }

    /// Users the published preview refuses for lack of seats, by reason (one per plan).
    async fn seat_refusals(&self, tenant: &Tenant, generation: i64) -> Result<Vec<(String, u64)>> {
        let seats = Some(scimgate_scheduler::plan::NO_FREE_SEAT);
        Ok(self
            .store
            .preview_reasons(
                tenant,
                PreviewRules::Published,
                generation,
                ("error", seats),
            )
            .await?)
    }

    /// Creates with an e-mail address in a stored preview: each gets a welcome e-mail.
    pub(crate) async fn welcome_count(&self, tenant: &Tenant, generation: i64) -> Result<u64> {
        let filters = [
            crate::preview::parse_filter("action:equals:create")?,
            crate::preview::parse_filter("email:not_empty")?,
        ];
        let counts = (self.store)
            .preview_counts(tenant, PreviewRules::Published, generation, &filters)
            .await?;
        Ok(counts.total)
    }

    /// The generation of rows that is the stored preview now (`None`: there is none).
    pub async fn preview_generation(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
    ) -> Result<Option<i64>> {
        Ok(self
            .store
            .preview_state(tenant, rules)
            .await?
            .map(|s| s.generation))
    }

    /// Every row of `preview` under `query`, `chunk` at a time after `after` (a CSV
    /// export reads it chunk by chunk; `None` after the last).
    pub async fn preview_chunk(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
        generation: i64,
        query: &PreviewQuery,
        after: Option<&PreviewRow>,
        chunk: i64,
    ) -> Result<Vec<PreviewRow>> {
        let cursor = match after {
            None => PreviewCursor::First,
            Some(row) => {
                let keys = query.sort.iter().map(|s| s.column.key(row)).collect();
                PreviewCursor::After(keys, row.user_id.clone())
            }
        };
        let stored_query = scimgate_store::PreviewQuery {
            filters: query.filters.clone(),
            sort: query.sort.clone(),
            cursor,
            limit: chunk.clamp(1, MAX_PAGE * 10),
            offset: 0,
        };
        Ok(self
            .store
            .preview_page(tenant, rules, generation, &stored_query)
            .await?)
    }
}

/// The CSV header of a preview export: every column.
pub fn csv_header() -> String {
    let names: Vec<&str> = crate::preview::COLUMNS.iter().map(|(_, n)| *n).collect();
    scimgate_core::csv::row(&names)
}

/// One row of a preview export, formula-safe.
pub fn csv_line(row: &PreviewRow) -> String {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    scimgate_core::csv::row(&[
        text(&row.name),
        row.username.clone(),
        text(&row.user_plan),
        text(&row.owner_company),
        text(&row.primary_group),
        row.secondary_groups
            .as_ref()
            .map(|g| g.join(", "))
            .unwrap_or_default(),
        text(&row.role),
        row.confidential.map(|c| c.to_string()).unwrap_or_default(),
        row.action.clone(),
        row.changed.join(", "),
        text(&row.email),
        text(&row.external_id),
        row.user_id.clone(),
        text(&row.reason),
        text(&row.set_by),
    ])
}
