//! Keeping the stored preview (`scimgate_store::preview`) equal to the plan a sync would
//! make now, for the published rules and for the draft.
//!
//! After a few SCIM writes the preview is brought up to date user by user (each changed
//! user planned alone, as the user page does); anything that can change many users at
//! once — rules, draft, catalogue, settings, accounts (a sync), a restart, a group, a
//! deleted user, a plan short of seats — recomputes it whole. docs/sync.md#the-stored-preview.

use super::Syncer;
use crate::plan::{refused_for_seat, Action, Plan, PlanItem, SeatUse, Totals, DELETED_IN_IDP};
use crate::{settings, Result, SyncError};
use scimgate_core::{CrmAccount, Name, RuleSource};
use scimgate_rules::{Catalog, RuleSet};
use scimgate_store::{PreviewBasis, PreviewRow, PreviewRules, PreviewState, Tenant};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Instant;

/// Changed users brought up to date one by one; more recompute the whole preview.
pub const INCREMENTAL_MAX_USERS: i64 = 500;

/// Rows per transaction when a whole preview is written.
const WRITE_CHUNK: usize = 5_000;

/// What the rows alone do not say, kept with the preview's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PreviewSummary {
    pub totals: Totals,
    pub seats: Vec<SeatUse>,
    pub deprovisions_held: bool,
    /// The published version, or the draft's edit version, it was computed with.
    pub rule_version: i64,
    /// Why there is no preview (no rules yet, rules that do not compile).
    pub problem: Option<String>,
    /// The problem is that nothing is published yet.
    #[serde(default)]
    pub no_rules: bool,
    /// When it was computed (Unix ms), and what the next update must compare with.
    pub computed_at_ms: i64,
    pub active_accounts: u64,
    pub staged_groups: u64,
    /// Users refused for lack of seats: while there are any, who gets a seat is the
    /// whole company's order, and only a whole computation knows it.
    #[serde(default)]
    pub seat_refusals: u64,
    /// Per user plan, users granted another plan whose account holds this one now: the
    /// company's plan keeps their seat taken until their turn (see `allocate_seats`).
    #[serde(default)]
    pub movers_out: std::collections::BTreeMap<String, u64>,
    /// Active accounts a restart unlinked (matched to users by externalId).
    #[serde(default)]
    pub unlinked_accounts: u64,
}

/// A stored preview as the pages read it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPreview {
    pub state: PreviewState,
    pub summary: PreviewSummary,
    /// Whether SCIM writes, edits or a sync came after it was computed.
    pub stale: bool,
}

/// How hard to refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Compute it only if there is none yet.
    IfMissing,
    /// Bring it up to date if its basis moved.
    IfStale,
    /// Recompute it whole (an admin asked).
    Full,
    /// The background refresher: up to date user by user when it can be; whole, but
    /// not more often than [`Syncer::full_refresh_pause`] allows (a long sync moves
    /// the accounts many times; a bulk load moves thousands of users a second).
    Background,
}

/// A plan item as a preview row: `accounts` gives the seat its account holds now.
pub fn preview_row(item: &PlanItem, accounts: &HashMap<i64, &CrmAccount>) -> PreviewRow {
    let target = item.target.as_ref();
    PreviewRow {
        user_id: item.user_id.clone(),
        staged: !(item.action == Action::Deprovision
            && item.reason.as_deref() == Some(DELETED_IN_IDP)),
        action: item.action.name().to_owned(),
        synced: item.synced,
        name: owned(&item.display_name),
        username: item.username.to_string(),
        email: owned(&item.email),
        external_id: item.external_id.clone(),
        user_plan: target.and_then(|t| owned(&t.user_plan)),
        owner_company: target.and_then(|t| owned(&t.owner_company)),
        primary_group: target.and_then(|t| owned(&t.primary_group)),
        secondary_groups: target
            .map(|t| t.secondary_groups.iter().map(|g| g.to_string()).collect()),
        role: target.and_then(|t| owned(&t.role)),
        confidential: target.map(|t| t.confidential),
        changed: item.changes.iter().map(|c| c.field.to_owned()).collect(),
        reason: item.reason.clone(),
        account_plan: item
            .account
            .and_then(|pk| accounts.get(&pk))
            .filter(|a| a.fields.active)
            .and_then(|a| owned(&a.fields.user_plan)),
        set_by: Some(item.set_by.to_string()).filter(|s| !s.is_empty()),
    }
}

fn owned(name: &Option<Name>) -> Option<String> {
    name.as_deref().map(str::to_owned)
}

/// The plan whose seat a row's account holds now and gives up for another plan.
fn moves_off(row: &PreviewRow) -> Option<&str> {
    let wanting = matches!(row.action.as_str(), "create" | "update" | "unchanged") && row.synced;
    match (row.account_plan.as_deref(), row.user_plan.as_deref()) {
        (Some(from), Some(to)) if wanting && from != to => Some(from),
        _ => None,
    }
}

/// The user plan whose seat a row counts against once the preview is applied.
fn seat_of(row: &PreviewRow, deprovisions_held: bool) -> Option<&str> {
    match row.action.as_str() {
        "create" | "update" | "unchanged" if row.synced => row.user_plan.as_deref(),
        "error" => row.account_plan.as_deref(),
        "deprovision" if deprovisions_held => row.account_plan.as_deref(),
        _ => None,
    }
}

fn count(totals: &mut Totals, row: &PreviewRow, add: bool) {
    let step = |n: &mut u64| *n = if add { *n + 1 } else { n.saturating_sub(1) };
    if row.staged {
        step(&mut totals.users_received);
    }
    if row.synced && row.action != "error" {
        step(&mut totals.users_synced);
    }
    match row.action.as_str() {
        "create" => step(&mut totals.create),
        "update" => step(&mut totals.update),
        "deprovision" => step(&mut totals.deprovision),
        "unchanged" => step(&mut totals.unchanged),
        _ => step(&mut totals.error),
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

impl Syncer {
    /// The stored preview of `rules`, refreshed as `how` says. `None`: a draft preview
    /// was asked for and there is no draft.
    pub async fn stored_preview(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
        how: Refresh,
    ) -> Result<Option<StoredPreview>> {
        let basis = self.store.preview_basis(tenant).await?;
        if rules == PreviewRules::Draft && !basis.has_draft {
            self.store.drop_preview(tenant, rules).await?;
            return Ok(None);
        }
        let current = self.store.preview_state(tenant, rules).await?;
        let state = match (current, how) {
            (Some(state), Refresh::IfMissing) => state,
            (Some(state), Refresh::IfStale) if is_current(&state, &basis, rules) => state,
            (Some(state), Refresh::IfStale) => {
                match self.update_preview(tenant, rules, &state, &basis).await? {
                    Some(updated) => updated,
                    None => self.compute_preview(tenant, rules, &basis).await?,
                }
            }
            (Some(state), Refresh::Background) if is_current(&state, &basis, rules) => state,
            (Some(state), Refresh::Background) => {
                match self.update_preview(tenant, rules, &state, &basis).await? {
                    Some(updated) => updated,
                    None if self.full_refresh_due(&state)? => {
                        self.compute_preview(tenant, rules, &basis).await?
                    }
                    None => state,
                }
            }
            _ => self.compute_preview(tenant, rules, &basis).await?,
        };
        // Stale if something moved between reading the basis and computing from it.
        Ok(Some(StoredPreview {
            summary: summary_of(&state)?,
            stale: !is_current(&state, &basis, rules),
            state,
        }))
    }

    /// Computes the whole preview into a new generation and makes it current.
    async fn compute_preview(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
        basis: &PreviewBasis,
    ) -> Result<PreviewState> {
        let started = Instant::now();
        let previous = self.store.preview_state(tenant, rules).await?;
        let generation = now_micros().max(previous.map_or(0, |s| s.generation + 1));
        let (draft, rule_version) = self.preview_rules(tenant, rules).await?;
        let mut summary = PreviewSummary {
            rule_version,
            computed_at_ms: self.clock.now().unix_millis(),
            staged_groups: self.store.staged_group_count(tenant).await?,
            ..PreviewSummary::default()
        };
        let mut steps = Steps::new();
        match self.inputs(tenant, draft.as_ref()).await {
            Ok(inputs) => {
                let guard = settings::load(&self.store, tenant).await?;
                let (plan, _) = self.company_plan(tenant, &inputs, Some(&guard)).await?;
                steps.done("plan");
                let by_pk: HashMap<i64, &CrmAccount> =
                    inputs.accounts.iter().map(|a| (a.pk, a)).collect();
                let rows: Vec<PreviewRow> =
                    plan.items.iter().map(|i| preview_row(i, &by_pk)).collect();
                let mut rest = &rows[..];
                while !rest.is_empty() {
                    // Fewer while SCIM writes are arriving: they wait for these to commit.
                    let chunk = self.store.next_transaction(&mut rest, WRITE_CHUNK);
                    (self.store)
                        .write_preview_rows(tenant, rules, generation, chunk.to_vec())
                        .await?;
                }
                steps.done("write");
                summary.seat_refusals =
                    plan.items.iter().filter(|i| refused_for_seat(i)).count() as u64;
                for plan in rows.iter().filter_map(moves_off) {
                    *summary.movers_out.entry(plan.to_owned()).or_default() += 1;
                }
                summary.unlinked_accounts = (inputs.accounts.iter())
                    .filter(|a| a.staged_user_id.is_none() && a.fields.active)
                    .count() as u64;
                let Plan {
                    totals,
                    seats,
                    deprovisions_held,
                    ..
                } = plan;
                summary.totals = totals;
                summary.seats = seats;
                summary.deprovisions_held = deprovisions_held;
                summary.active_accounts =
                    inputs.accounts.iter().filter(|a| a.fields.active).count() as u64;
            }
            // Nothing to preview with: the page says why instead.
            Err(SyncError::Rules(problem)) => summary.problem = Some(problem),
            Err(SyncError::NotFound(problem)) => {
                summary.problem = Some(problem);
                summary.no_rules = true;
            }
            Err(e) => return Err(e),
        }
        let state = PreviewState {
            generation,
            versions: basis.versions(rules),
            change_seq: basis.change_seq,
            computed_at: self.clock.now().to_rfc3339(),
            summary: serde_json::to_string(&summary)
                .map_err(|e| SyncError::Corrupt(e.to_string()))?,
            full_refresh_ms: started.elapsed().as_millis() as i64,
        };
        let switched = (self.store)
            .switch_preview(tenant, rules, state.clone())
            .await?;
        steps.done("switch");
        // Readers see the new rows from here on; the old ones go now. A refresh that lost
        // the race to a newer one (another replica, a Recompute) drops what is older than
        // the winner, its own rows included, and answers with the winner.
        let state = match switched {
            true => state,
            false => (self.store.preview_state(tenant, rules).await?).ok_or_else(|| {
                SyncError::Conflict("the preview was dropped while it was computed".into())
            })?,
        };
        (self.store)
            .drop_preview_rows_before(tenant, rules, state.generation)
            .await?;
        steps.done("drop old rows");
        tracing::info!(
            tenant = %tenant.name,
            rules = rules.name(),
            users = summary.totals.users_received,
            steps = %steps,
            "stored preview computed"
        );
        Ok(state)
    }

    /// Brings the preview up to date user by user, when only SCIM writes to a few users
    /// came after it. `None`: it must be computed whole.
    async fn update_preview(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
        state: &PreviewState,
        basis: &PreviewBasis,
    ) -> Result<Option<PreviewState>> {
        let mut summary = summary_of(state)?;
        if state.versions != basis.versions(rules)
            || summary.problem.is_some()
            || summary.totals.awaiting_relink > 0
            // Who claims an unlinked account (by externalId) is the company's order.
            || summary.unlinked_accounts > 0
            || summary.staged_groups != self.store.staged_group_count(tenant).await?
            || (self.store)
                .groups_changed_since(tenant, state.change_seq)
                .await?
        {
            return Ok(None);
        }
        let changed = (self.store)
            .users_changed_since(tenant, state.change_seq, INCREMENTAL_MAX_USERS)
            .await?;
        if changed.len() as i64 > INCREMENTAL_MAX_USERS {
            return Ok(None);
        }
        // A plan short of seats hands them out in the company's order: only a whole
        // computation knows who gets one.
        if summary.seat_refusals > 0 {
            return Ok(None);
        }
        let old = (self.store)
            .preview_rows_of(tenant, rules, state.generation, &changed)
            .await?;
        let new_users = changed.len() - old.len();
        // A user deleted meanwhile: its account's deprovision is the company's to plan.
        if self.store.staged_user_count(tenant).await?
            != summary.totals.users_received + new_users as u64
        {
            return Ok(None);
        }
        let (draft, _) = self.preview_rules(tenant, rules).await?;
        let (catalog, rule_set): (Catalog, RuleSet) =
            match self.catalog_and_rules(tenant, draft.as_ref()).await {
                Ok(loaded) => loaded,
                Err(SyncError::Rules(_) | SyncError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e),
            };
        let seats: HashMap<String, u64> =
            self.crm.seats_in_use(tenant).await?.into_iter().collect();
        let mut rows = Vec::with_capacity(changed.len());
        for id in &changed {
            let Some((plan, _, accounts)) = self
                .one_user_plan(tenant, id, (&catalog, &rule_set), &seats)
                .await?
            else {
                return Ok(None);
            };
            // Planned alone, a user sees the seats accounts hold now, not those the
            // company's plan frees: a refusal here may not be one there.
            if plan.items.iter().any(refused_for_seat) {
                return Ok(None);
            }
            let by_pk: HashMap<i64, &CrmAccount> = accounts.iter().map(|a| (a.pk, a)).collect();
            rows.extend(plan.items.iter().map(|i| preview_row(i, &by_pk)));
        }
        for row in &old {
            count(&mut summary.totals, row, false);
        }
        for row in &rows {
            count(&mut summary.totals, row, true);
        }
        let guard = settings::load(&self.store, tenant).await?;
        let held = guard.guard_trips(summary.totals.deprovision, summary.active_accounts);
        if held != summary.deprovisions_held {
            return Ok(None);
        }
        for (row, add) in old
            .iter()
            .map(|r| (r, false))
            .chain(rows.iter().map(|r| (r, true)))
        {
            if let Some(plan) = moves_off(row) {
                let movers = summary.movers_out.entry(plan.to_owned()).or_default();
                *movers = if add {
                    *movers + 1
                } else {
                    movers.saturating_sub(1)
                };
            }
            let Some(plan) = seat_of(row, held) else {
                continue;
            };
            match summary.seats.iter_mut().find(|s| s.user_plan == plan) {
                Some(seat) if add => seat.used += 1,
                Some(seat) => seat.used = seat.used.saturating_sub(1),
                // A plan the catalogue does not list and nobody used before.
                None => return Ok(None),
            }
        }
        // While the company's plan hands out seats, users moving off a plan keep their
        // seat until their turn: with those counted, every plan must still have room, or
        // someone would be refused there and only a whole computation knows who.
        let short = summary.seats.iter().any(|s| {
            let movers = summary.movers_out.get(&s.user_plan).copied().unwrap_or(0);
            s.purchased.is_some_and(|p| s.used + movers > p)
        });
        if short {
            return Ok(None);
        }
        summary.computed_at_ms = self.clock.now().unix_millis();
        let updated = PreviewState {
            change_seq: basis.change_seq,
            computed_at: self.clock.now().to_rfc3339(),
            summary: serde_json::to_string(&summary)
                .map_err(|e| SyncError::Corrupt(e.to_string()))?,
            ..state.clone()
        };
        let done = self
            .store
            .update_preview_rows(
                tenant,
                rules,
                (updated.clone(), state.change_seq),
                Vec::new(),
                rows,
            )
            .await?;
        if done {
            return Ok(Some(updated));
        }
        // Another refresher came first: its preview, if it is current, is as good.
        let now = self.store.preview_basis(tenant).await?;
        Ok(self
            .store
            .preview_state(tenant, rules)
            .await?
            .filter(|s| is_current(s, &now, rules)))
    }

    /// Whether the background may recompute a preview whole again: at least a second
    /// after the last computation, and five times as long as that one took.
    fn full_refresh_due(&self, state: &PreviewState) -> Result<bool> {
        let pause = (state.full_refresh_ms * 5).max(1_000);
        let computed = summary_of(state)?.computed_at_ms;
        Ok(self.clock.now().unix_millis() >= computed + pause)
    }

    /// Brings every stored preview whose basis moved up to date (see
    /// [`Refresh::Background`]); returns how many it looked at.
    pub async fn refresh_stale_previews(&self) -> Result<usize> {
        let stale = self.store.stale_previews().await?;
        for preview in &stale {
            // One tenant's failure (its database rows, its CRM) must not stop the others'.
            if let Err(e) =
                (self.stored_preview(&preview.tenant, preview.rules, Refresh::Background)).await
            {
                tracing::warn!(tenant = %preview.tenant.name, rules = preview.rules.name(), error = %e, "refreshing the stored preview failed");
            }
        }
        Ok(stale.len())
    }

    /// The draft to plan with (`None`: the published rules) and the version shown.
    async fn preview_rules(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
    ) -> Result<(Option<RuleSource>, i64)> {
        match rules {
            PreviewRules::Published => Ok((None, self.store.rule_set(tenant).await?.version)),
            PreviewRules::Draft => {
                let draft = self.store.rule_draft(tenant).await?;
                let source = draft.value.map(|d| d.source).ok_or_else(|| {
                    SyncError::NotFound("there is no draft: edit a rule to begin one".into())
                })?;
                Ok((Some(source), draft.version))
            }
        }
    }
}

/// How long each step of a computation took, for the log.
struct Steps {
    at: Instant,
    done: Vec<(&'static str, u128)>,
}

impl Steps {
    fn new() -> Steps {
        Steps {
            at: Instant::now(),
            done: Vec::new(),
        }
    }

    fn done(&mut self, step: &'static str) {
        self.done.push((step, self.at.elapsed().as_millis()));
        self.at = Instant::now();
    }
}

impl std::fmt::Display for Steps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, (step, ms)) in self.done.iter().enumerate() {
            write!(f, "{}{step} {ms} ms", if n > 0 { ", " } else { "" })?;
        }
        Ok(())
    }
}

fn is_current(state: &PreviewState, basis: &PreviewBasis, rules: PreviewRules) -> bool {
    state.versions == basis.versions(rules) && state.change_seq == basis.change_seq
}

fn summary_of(state: &PreviewState) -> Result<PreviewSummary> {
    serde_json::from_str(&state.summary)
        .map_err(|e| SyncError::Corrupt(format!("stored preview summary: {e}")))
}
