//! The planner: staged users, their groups and the tenant's rules against the CRM
//! accounts give one action per user, with the seat count of every user plan. Pure:
//! preview shows a plan, a sync applies one, and both get the same plan from the same
//! data.

use scimgate_core::{AccountFields, CrmAccount, HoldingGroups, Name, Names, StagedUser};
use scimgate_rules::{AccountSettings, Catalog, Decision, RuleSet};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

mod seats;
mod users;
use seats::allocate_seats;
pub use seats::{is_seat_refusal, refused_for_seat, NO_FREE_SEAT};
use users::{identity, Identity};
pub use users::{PlanUsers, UserMeta};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Deprovision,
    Unchanged,
    Error,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Deprovision => "deprovision",
            Action::Unchanged => "unchanged",
            Action::Error => "error",
        }
    }
}

/// Why an account whose staged user is gone is deprovisioned.
pub const DELETED_IN_IDP: &str = "the user was deleted in the identity provider";

/// One field an update changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub old: String,
    pub new: String,
}

/// What the plan does to one staged user (or, for a deprovision of a user the IdP
/// deleted, to one account that has no staged user any more).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanItem {
    /// The staged user's id; for an account whose user was deleted, the id it had.
    pub user_id: String,
    /// Shared with the target's identity (a plan holds each name once).
    pub username: Arc<str>,
    /// The user's name and e-mail as the IdP sent them (for an account whose user was
    /// deleted, as the account has them).
    pub display_name: Option<Arc<str>>,
    pub email: Option<Arc<str>>,
    pub external_id: Option<String>,
    pub action: Action,
    /// The account the action applies to, when there is one.
    pub account: Option<i64>,
    /// What the account will look like (create, update, unchanged); `None` otherwise.
    pub target: Option<AccountFields>,
    pub changes: Vec<FieldChange>,
    /// Why the user is in error, or why the account is deprovisioned.
    pub reason: Option<String>,
    /// The rules whose values stand, in rule order, joined by ", " (the Preview's *Set
    /// by rule*); empty when no rule set anything or the IdP deleted the user. Shared:
    /// a company has a few dozen distinct ones.
    pub set_by: Name,
    /// Whether the rules give this user an account (user plan, active, no errors).
    pub synced: bool,
    /// When the IdP first sent the user, in Unix milliseconds: seats go to earlier
    /// users first. A stored time that does not parse counts as last.
    #[serde(skip)]
    pub arrived: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatUse {
    pub user_plan: String,
    /// Active accounts with this plan once the plan is applied.
    pub used: u64,
    /// `None`: the catalogue sets no limit.
    pub purchased: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub users_received: u64,
    pub users_synced: u64,
    pub create: u64,
    pub update: u64,
    pub deprovision: u64,
    pub unchanged: u64,
    pub error: u64,
    /// Accounts waiting to be re-linked after a restart (left alone until then).
    pub awaiting_relink: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub totals: Totals,
    pub seats: Vec<SeatUse>,
    pub items: Vec<PlanItem>,
    /// The mass-deprovision guard holds this plan's deprovisions: a sync applies the
    /// rest and waits for an admin. Their accounts keep their seats meanwhile.
    pub deprovisions_held: bool,
}

/// Which users a plan covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every staged user and every account (a company sync).
    Company,
    /// One staged user (by id); every other account keeps what it has.
    User(String),
}

/// The plan. `users` are the staged users in scope (all for a company, the one for a
/// user sync); `accounts` are all of the tenant's accounts.
pub fn plan(
    rules: &RuleSet,
    catalog: &Catalog,
    users: &PlanUsers,
    accounts: &[CrmAccount],
    scope: &Scope,
) -> Plan {
    let mut planner = Planner::new(rules, catalog, accounts, scope.clone());
    planner.add(users);
    planner.finish()
}

/// Builds a plan from users handed in chunks, so a company of any size is planned
/// without holding every staged user's document at once: each chunk is evaluated and
/// reduced to its plan items, and its documents are dropped.
pub struct Planner<'a> {
    rules: &'a RuleSet,
    catalog: &'a Catalog,
    accounts: &'a [CrmAccount],
    scope: Scope,
    by_staged: HashMap<&'a str, &'a CrmAccount>,
    /// Accounts a restart unlinked, by externalId, waiting for their user to come back.
    unlinked: HashMap<&'a str, &'a CrmAccount>,
    /// Accounts some staged user of this plan maps to.
    matched: HashSet<i64>,
    items: Vec<PlanItem>,
    /// The catalogue names of the planned accounts, one copy each.
    names: Names,
    received: u64,
    /// Seats per plan held by active accounts that are not in `accounts` (a one-user
    /// plan is given only the accounts it can touch, and the others' seats as counts).
    seats_elsewhere: HashMap<String, u64>,
}

impl<'a> Planner<'a> {
    pub fn new(
        rules: &'a RuleSet,
        catalog: &'a Catalog,
        accounts: &'a [CrmAccount],
        scope: Scope,
    ) -> Planner<'a> {
        Planner {
            rules,
            catalog,
            accounts,
            scope,
            by_staged: accounts
                .iter()
                .filter_map(|a| a.staged_user_id.as_deref().map(|id| (id, a)))
                .collect(),
            unlinked: accounts
                .iter()
                .filter(|a| a.staged_user_id.is_none())
                .filter_map(|a| a.external_id.as_deref().map(|e| (e, a)))
                .collect(),
            matched: HashSet::new(),
            items: Vec::new(),
            names: Names::default(),
            received: 0,
            seats_elsewhere: HashMap::new(),
        }
    }

    /// Seats per plan held by active accounts left out of `accounts`: they count as used.
    pub fn with_seats_elsewhere(self, seats_elsewhere: HashMap<String, u64>) -> Planner<'a> {
        Planner {
            seats_elsewhere,
            ..self
        }
    }

    /// Plans a chunk of staged users read from the holding area.
    pub fn add_staged(&mut self, holding: &HoldingGroups, users: Vec<StagedUser>) {
        // Sized once: a plan of 100,000 items grown by doubling would briefly hold the
        // old and the new array, and a quarter of the last one unused.
        (self.items).reserve_exact(holding.users.saturating_sub(self.items.len()));
        self.add(&PlanUsers::of_chunk(holding, users));
    }

    /// Plans staged users with their groups.
    pub fn add(&mut self, users: &PlanUsers) {
        let decisions = self.rules.decide_all(&users.inputs);
        self.received += users.meta.len() as u64;
        for ((meta, input), decision) in users.meta.iter().zip(&users.inputs).zip(&decisions) {
            let account = self.by_staged.get(meta.id.as_str()).copied().or_else(|| {
                meta.external_id
                    .as_deref()
                    .and_then(|e| self.unlinked.remove(e))
            });
            if let Some(a) = account {
                self.matched.insert(a.pk);
            }
            let set_by = self
                .names
                .get(&self.rules.rules_that_set(decision).join(", "));
            let item = item(
                meta,
                &input.user,
                (decision, set_by),
                account,
                &mut self.names,
            );
            self.items.push(item);
        }
    }

    pub fn finish(self) -> Plan {
        self.finish_guarded(|_, _| false)
    }

    /// The plan, asking `guard_trips(deprovisions, active accounts)` whether the
    /// mass-deprovision guard holds its deprovisions (which changes who gets seats).
    pub fn finish_guarded(mut self, guard_trips: impl Fn(u64, u64) -> bool) -> Plan {
        if self.scope == Scope::Company {
            // Accounts whose staged user is gone: the IdP deleted the user.
            let gone: Vec<(&str, &CrmAccount)> = (self.accounts.iter())
                .filter(|a| a.fields.active && !self.matched.contains(&a.pk))
                .filter_map(|a| Some((a.staged_user_id.as_deref()?, a)))
                .collect();
            self.items.reserve_exact(gone.len());
            for (id, account) in gone {
                self.items.push(PlanItem {
                    user_id: id.to_owned(),
                    username: account.fields.username.clone(),
                    display_name: account.fields.display_name.clone(),
                    email: account.fields.email.clone(),
                    external_id: account.external_id.clone(),
                    action: Action::Deprovision,
                    account: Some(account.pk),
                    target: None,
                    changes: vec![FieldChange {
                        field: "active",
                        old: "true".into(),
                        new: "false".into(),
                    }],
                    reason: Some(DELETED_IN_IDP.into()),
                    set_by: "".into(),
                    synced: false,
                    arrived: 0,
                });
            }
        }
        let mut items = self.items;
        let deprovisions = items
            .iter()
            .filter(|i| i.action == Action::Deprovision)
            .count() as u64;
        let active = self.accounts.iter().filter(|a| a.fields.active).count() as u64;
        let held = guard_trips(deprovisions, active);
        let seats = allocate_seats(
            self.catalog,
            &mut items,
            (self.accounts, self.seats_elsewhere),
            &self.scope,
            held,
        );
        let mut totals = Totals {
            users_received: self.received,
            awaiting_relink: self
                .accounts
                .iter()
                .filter(|a| {
                    a.staged_user_id.is_none() && a.fields.active && !self.matched.contains(&a.pk)
                })
                .count() as u64,
            ..Totals::default()
        };
        for item in &items {
            if item.synced && item.action != Action::Error {
                totals.users_synced += 1;
            }
            match item.action {
                Action::Create => totals.create += 1,
                Action::Update => totals.update += 1,
                Action::Deprovision => totals.deprovision += 1,
                Action::Unchanged => totals.unchanged += 1,
                Action::Error => totals.error += 1,
            }
        }
        Plan {
            totals,
            seats,
            items,
            deprovisions_held: held,
        }
    }
}

fn item(
    meta: &UserMeta,
    body: &serde_json::Value,
    (decision, set_by): (&Decision, Name),
    account: Option<&CrmAccount>,
    names: &mut Names,
) -> PlanItem {
    let (username, display_name, email) = identity(meta, body);
    let mut out = PlanItem {
        user_id: meta.id.clone(),
        username: username.clone(),
        display_name: display_name.clone(),
        email: email.clone(),
        external_id: meta.external_id.clone(),
        action: Action::Unchanged,
        account: account.map(|a| a.pk),
        target: None,
        changes: Vec::new(),
        reason: None,
        set_by,
        synced: decision.synced,
        arrived: scimgate_core::Timestamp::parse_rfc3339(&meta.arrived)
            .map_or(i64::MAX, |t| t.unix_millis()),
    };
    // Inactive in the IdP: the account goes, whatever the rules say (even if they fail
    // for this user, an account must not outlive its user's access).
    if !scimgate_rules::is_active(body) {
        if let Some(a) = account.filter(|a| a.fields.active) {
            out.action = Action::Deprovision;
            out.account = Some(a.pk);
            out.changes = vec![FieldChange {
                field: "active",
                old: "true".into(),
                new: "false".into(),
            }];
        }
        out.synced = false;
        out.reason = Some("the user is inactive in the identity provider".into());
        return out;
    }
    if !decision.errors.is_empty() {
        out.action = Action::Error;
        out.reason = Some(
            decision
                .errors
                .iter()
                .map(|e| format!("rule {:?}: {}", e.rule, e.message))
                .collect::<Vec<_>>()
                .join("; "),
        );
        return out;
    }
    if !decision.synced {
        // No account, or one to deprovision: inactive in the IdP or no user plan.
        match account {
            Some(a) if a.fields.active => {
                out.action = Action::Deprovision;
                out.changes = vec![FieldChange {
                    field: "active",
                    old: "true".into(),
                    new: "false".into(),
                }];
            }
            _ => out.action = Action::Unchanged,
        }
        out.reason = decision.not_synced_because.clone();
        return out;
    }
    let target = account_fields((username, display_name, email), &decision.settings, names);
    match account {
        None => out.action = Action::Create,
        Some(a) => {
            // Most accounts of a re-sync are unchanged: compare before describing.
            let changes: Vec<FieldChange> = if a.fields == target {
                Vec::new()
            } else {
                a.fields
                    .diff(&target)
                    .into_iter()
                    .map(|(field, old, new)| FieldChange { field, old, new })
                    .collect()
            };
            let relink = a.staged_user_id.as_deref() != Some(meta.id.as_str());
            out.action = if changes.is_empty() && !relink {
                Action::Unchanged
            } else {
                Action::Update
            };
            out.changes = changes;
        }
    }
    out.target = Some(target);
    out
}

/// Settings, as the preview shows them beside a target (used by the one-user preview).
pub fn settings_of(fields: &AccountFields) -> AccountSettings {
    AccountSettings {
        user_plan: fields.user_plan.as_deref().map(str::to_owned),
        owner_company: fields.owner_company.as_deref().map(str::to_owned),
        primary_group: fields.primary_group.as_deref().map(str::to_owned),
        secondary_groups: Some(
            fields
                .secondary_groups
                .iter()
                .map(|g| g.to_string())
                .collect(),
        ),
        role: fields.role.as_deref().map(str::to_owned),
        confidential: Some(fields.confidential),
    }
}

/// What an active account should look like: the identity from the staged user, the six
/// settings from the rules.
fn account_fields(
    (username, display_name, email): Identity,
    settings: &AccountSettings,
    names: &mut Names,
) -> AccountFields {
    AccountFields {
        username,
        display_name,
        email,
        user_plan: names.of(settings.user_plan.as_deref()),
        owner_company: names.of(settings.owner_company.as_deref()),
        primary_group: names.of(settings.primary_group.as_deref()),
        secondary_groups: names.all(settings.secondary_groups.as_deref().unwrap_or_default()),
        role: names.of(settings.role.as_deref()),
        confidential: settings.confidential.unwrap_or(false),
        active: true,
    }
}
