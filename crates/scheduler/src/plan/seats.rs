//! Seat allocation: who gets a user plan's purchased seats when fewer are left than
//! users who want them, and who keeps what (docs/sync.md).

use super::{Action, PlanItem, Scope, SeatUse};
use scimgate_core::CrmAccount;
use scimgate_rules::{Catalog, CatalogEntry};
use std::collections::{HashMap, HashSet};

/// Gives seats to the users whose plan needs one, in a stable order, and turns the
/// users beyond a plan's purchased seats into errors naming the plan.
///
/// The order (documented in docs/sync.md): accounts that already hold a seat of the
/// plan keep it; then users by when the IdP first sent them, then by id. Active
/// accounts outside the plan's scope (other users in a one-user sync, accounts waiting
/// to be re-linked) keep their seats and count as used, as do the seats held elsewhere
/// (`accounts` is `(the accounts given, seats per plan of the active ones left out)`).
/// What the reason of a user refused for lack of seats says.
pub const NO_FREE_SEAT: &str = "has no free seat";

/// Whether a reason is that of a user refused for lack of seats.
pub fn is_seat_refusal(reason: &str) -> bool {
    reason.contains(NO_FREE_SEAT)
}

/// Whether a plan item was refused because its user plan had no seat left.
pub fn refused_for_seat(item: &PlanItem) -> bool {
    item.action == Action::Error
        && item.target.is_none()
        && item.reason.as_deref().is_some_and(is_seat_refusal)
}

pub(super) fn allocate_seats(
    catalog: &Catalog,
    items: &mut [PlanItem],
    (accounts, seats_elsewhere): (&[CrmAccount], HashMap<String, u64>),
    scope: &Scope,
    deprovisions_held: bool,
) -> Vec<SeatUse> {
    let purchased: HashMap<&str, Option<u64>> = catalog
        .user_plans
        .iter()
        .map(|e| match e {
            CatalogEntry::Name(n) => (n.as_str(), None),
            CatalogEntry::Entry(e) => (e.name.as_str(), e.seats),
        })
        .collect();
    let by_pk: HashMap<i64, &CrmAccount> = accounts.iter().map(|a| (a.pk, a)).collect();
    let planned: HashSet<i64> = items.iter().filter_map(|i| i.account).collect();
    let mut used: HashMap<String, u64> = seats_elsewhere;
    let keep = |used: &mut HashMap<String, u64>, account: &CrmAccount| {
        if let (true, Some(plan)) = (account.fields.active, &account.fields.user_plan) {
            *used.entry(plan.to_string()).or_default() += 1;
        }
    };
    // Seats held by accounts this plan does not touch.
    for account in accounts {
        let untouched = match scope {
            Scope::Company => account.staged_user_id.is_none() && !planned.contains(&account.pk),
            Scope::User(_) => !planned.contains(&account.pk),
        };
        if untouched {
            keep(&mut used, account);
        }
    }
    // Users in error keep their account as it is, seat included; so do accounts whose
    // deprovisioning the guard holds back.
    for item in items.iter().filter(|i| {
        i.action == Action::Error || (deprovisions_held && i.action == Action::Deprovision)
    }) {
        if let Some(account) = item.account.and_then(|pk| by_pk.get(&pk)) {
            keep(&mut used, account);
        }
    }
    let holds_seat = |item: &PlanItem| {
        item.account.and_then(|pk| by_pk.get(&pk)).is_some_and(|a| {
            a.fields.active
                && a.fields.user_plan.as_deref()
                    == item.target.as_ref().and_then(|t| t.user_plan.as_deref())
        })
    };
    let mut wanting: Vec<(bool, usize)> = items
        .iter()
        .enumerate()
        .filter(|(_, i)| {
            i.target
                .as_ref()
                .is_some_and(|t| t.active && t.user_plan.is_some())
        })
        .map(|(n, i)| (!holds_seat(i), n))
        .collect();
    wanting.sort_by(|(a_new, a), (b_new, b)| {
        a_new
            .cmp(b_new)
            .then_with(|| items[*a].arrived.cmp(&items[*b].arrived))
            .then_with(|| items[*a].user_id.cmp(&items[*b].user_id))
    });
    // Users moving to another plan hold their current seat until the new one is
    // granted: if it is not, they keep the old one, and nobody else may have taken it.
    let current_plan = |item: &PlanItem| {
        item.account
            .and_then(|pk| by_pk.get(&pk))
            .filter(|a| a.fields.active)
            .and_then(|a| a.fields.user_plan.clone())
    };
    for (_, n) in &wanting {
        let wanted = items[*n]
            .target
            .as_ref()
            .and_then(|t| t.user_plan.as_deref());
        if let Some(old) = current_plan(&items[*n]).filter(|old| Some(&**old) != wanted) {
            *used.entry(old.to_string()).or_default() += 1;
        }
    }
    for (_, n) in wanting {
        let Some(plan) = items[n].target.as_ref().and_then(|t| t.user_plan.clone()) else {
            continue;
        };
        let count = used.entry(plan.to_string()).or_default();
        let limit = purchased.get(&*plan).copied().flatten();
        if limit.is_some_and(|limit| *count >= limit) {
            let item = &mut items[n];
            item.action = Action::Error;
            item.reason = Some(format!(
                "user plan {plan:?} {NO_FREE_SEAT} ({} purchased, all in use)",
                limit.unwrap_or_default()
            ));
            item.target = None;
            item.changes.clear();
            // The account, if any, stays as it is, with the seat it has: a mover's is
            // counted already; a holder refused because seats were cut is counted here.
            let old = current_plan(item);
            if old.as_deref() == Some(&*plan) {
                *used.entry(plan.to_string()).or_default() += 1;
            }
        } else {
            *count += 1;
            if let Some(old) = current_plan(&items[n]).filter(|old| *old != plan) {
                if let Some(c) = used.get_mut(&*old) {
                    *c = c.saturating_sub(1);
                }
            }
        }
    }
    let mut seats: Vec<SeatUse> = catalog
        .user_plans
        .iter()
        .map(|e| SeatUse {
            user_plan: e.name().to_owned(),
            used: used.get(e.name()).copied().unwrap_or(0),
            purchased: purchased.get(e.name()).copied().flatten(),
        })
        .collect();
    // Plans in use that the catalogue no longer lists still show.
    for (plan, count) in &used {
        if !seats.iter().any(|s| &s.user_plan == plan) {
            seats.push(SeatUse {
                user_plan: plan.clone(),
                used: *count,
                purchased: None,
            });
        }
    }
    seats
}

#[cfg(test)]
#[path = "seat_tests.rs"]
mod tests;
