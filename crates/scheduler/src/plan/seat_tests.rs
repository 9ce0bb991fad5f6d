//! Seat allocation, case by case (docs/sync.md "Seats"): who gets a plan's purchased
//! seats when there are fewer than users who want them, and who keeps what.

use super::allocate_seats;
use crate::plan::{Action, PlanItem, Scope, SeatUse};
use scimgate_core::{AccountFields, CrmAccount};
use scimgate_rules::{Catalog, CatalogEntry, NamedEntry};
use std::collections::{HashMap, HashSet};

fn catalog(plans: &[(&str, Option<u64>)]) -> Catalog {
    Catalog {
        user_plans: plans
            .iter()
            .map(|(name, seats)| {
                CatalogEntry::Entry(NamedEntry {
                    name: (*name).to_owned(),
                    seats: *seats,
                })
            })
            .collect(),
        ..Catalog::default()
    }
}

fn fields(plan: Option<&str>, active: bool) -> AccountFields {
    AccountFields {
        username: "u".into(),
        display_name: None,
        email: None,
        user_plan: plan.map(Into::into),
        owner_company: None,
        primary_group: None,
        secondary_groups: Vec::new(),
        role: None,
        confidential: false,
        active,
    }
}

/// An active account with `plan`, linked to staged user `user` (None: awaiting re-link).
fn account(pk: i64, user: Option<&str>, plan: &str) -> CrmAccount {
    CrmAccount {
        pk,
        staged_user_id: user.map(str::to_owned),
        external_id: None,
        fields: fields(Some(plan), true),
        created_at: String::new(),
        updated_at: String::new(),
        deactivated_at: None,
    }
}

/// A user who wants `plan` (or whose account is deprovisioned when `plan` is None).
fn wants(user: &str, arrived: &str, account: Option<i64>, plan: Option<&str>) -> PlanItem {
    let action = match (account, plan) {
        (_, None) => Action::Deprovision,
        (None, Some(_)) => Action::Create,
        (Some(_), Some(_)) => Action::Update,
    };
    PlanItem {
        user_id: user.into(),
        username: user.into(),
        display_name: None,
        email: None,
        external_id: None,
        action,
        account,
        target: plan.map(|p| fields(Some(p), true)),
        changes: Vec::new(),
        reason: None,
        set_by: "".into(),
        synced: plan.is_some(),
        arrived: scimgate_core::Timestamp::parse_rfc3339(&format!("{arrived}T00:00:00Z"))
            .unwrap()
            .unix_millis(),
    }
}

struct Case {
    what: &'static str,
    plans: Vec<(&'static str, Option<u64>)>,
    accounts: Vec<CrmAccount>,
    items: Vec<PlanItem>,
    scope: Scope,
    held: bool,
    /// The users refused a seat, in item order.
    refused: Vec<&'static str>,
    /// (plan, used) after the plan is applied.
    used: Vec<(&'static str, u64)>,
}

fn case(what: &'static str) -> Case {
    Case {
        what,
        plans: vec![("A", Some(2)), ("B", Some(1))],
        accounts: Vec::new(),
        items: Vec::new(),
        scope: Scope::Company,
        held: false,
        refused: Vec::new(),
        used: Vec::new(),
    }
}

#[test]
fn seats_go_by_the_documented_order() {
    let cases = vec![
        Case {
            plans: vec![("Free", None)],
            items: (0..5)
                .map(|i| wants(&format!("u{i}"), "2026-01-01", None, Some("Free")))
                .collect(),
            used: vec![("Free", 5)],
            ..case("a plan without a limit seats everyone")
        },
        Case {
            items: vec![
                wants("late", "2026-01-03", None, Some("A")),
                wants("early", "2026-01-01", None, Some("A")),
                wants("middle", "2026-01-02", None, Some("A")),
            ],
            refused: vec!["late"],
            used: vec![("A", 2), ("B", 0)],
            ..case("newcomers are seated by when the IdP first sent them")
        },
        Case {
            items: vec![
                wants("b", "2026-01-01", None, Some("B")),
                wants("a", "2026-01-01", None, Some("B")),
            ],
            refused: vec!["b"],
            used: vec![("A", 0), ("B", 1)],
            ..case("a tie in arrival goes by id")
        },
        Case {
            accounts: vec![account(1, Some("holder"), "B")],
            items: vec![
                wants("newcomer", "2025-01-01", None, Some("B")),
                wants("holder", "2026-06-01", Some(1), Some("B")),
            ],
            refused: vec!["newcomer"],
            used: vec![("A", 0), ("B", 1)],
            ..case("a holder keeps the seat before any newcomer, however early")
        },
        Case {
            plans: vec![("A", Some(1)), ("B", Some(0))],
            accounts: vec![account(1, Some("mover"), "A")],
            items: vec![
                wants("mover", "2026-01-01", Some(1), Some("B")),
                wants("other", "2025-01-01", None, Some("A")),
            ],
            refused: vec!["mover", "other"],
            used: vec![("A", 1), ("B", 0)],
            ..case("a mover to a full plan keeps the old seat, and nobody takes it")
        },
        Case {
            plans: vec![("A", Some(1)), ("B", Some(1))],
            accounts: vec![account(1, Some("mover"), "A")],
            items: vec![
                wants("mover", "2026-01-01", Some(1), Some("B")),
                wants("other", "2026-01-02", None, Some("A")),
            ],
            refused: vec![],
            used: vec![("A", 1), ("B", 1)],
            ..case("a mover to a plan with room frees the old seat for another")
        },
        Case {
            plans: vec![("A", Some(1))],
            accounts: vec![account(1, Some("leaver"), "A")],
            items: vec![
                wants("leaver", "2026-01-01", Some(1), None),
                wants("newcomer", "2026-01-02", None, Some("A")),
            ],
            held: true,
            refused: vec!["newcomer"],
            used: vec![("A", 1)],
            ..case("a deprovision held by the guard keeps its seat")
        },
        Case {
            plans: vec![("A", Some(1))],
            accounts: vec![account(1, Some("leaver"), "A")],
            items: vec![
                wants("leaver", "2026-01-01", Some(1), None),
                wants("newcomer", "2026-01-02", None, Some("A")),
            ],
            refused: vec![],
            used: vec![("A", 1)],
            ..case("a deprovision that goes ahead frees its seat")
        },
        Case {
            plans: vec![("A", Some(1))],
            accounts: vec![account(1, None, "A")],
            items: vec![wants("newcomer", "2026-01-02", None, Some("A"))],
            refused: vec!["newcomer"],
            used: vec![("A", 1)],
            ..case("an account awaiting re-link after a restart keeps its seat")
        },
        Case {
            plans: vec![("A", Some(2))],
            accounts: vec![account(1, Some("x"), "A"), account(2, Some("y"), "A")],
            items: vec![wants("z", "2026-01-02", None, Some("A"))],
            scope: Scope::User("z".into()),
            refused: vec!["z"],
            used: vec![("A", 2)],
            ..case("a one-user sync counts every other account's seat")
        },
        Case {
            plans: vec![("A", Some(1))],
            accounts: vec![account(1, Some("x"), "Retired")],
            items: vec![wants("x", "2026-01-01", Some(1), Some("A"))],
            used: vec![("A", 1), ("Retired", 0)],
            ..case("a plan the catalogue no longer lists still shows while it was in use")
        },
    ];
    for c in cases {
        assert_counting_elsewhere_decides_the_same(&c);
        let mut items = c.items.clone();
        let seats = allocate_seats(
            &catalog(&c.plans),
            &mut items,
            (&c.accounts, HashMap::new()),
            &c.scope,
            c.held,
        );
        let refused: Vec<&str> = items
            .iter()
            .filter(|i| i.action == Action::Error)
            .map(|i| i.user_id.as_str())
            .collect();
        assert_eq!(refused, c.refused, "{}: refused", c.what);
        for item in items.iter().filter(|i| i.action == Action::Error) {
            let reason = item.reason.as_deref().unwrap_or_default();
            assert!(reason.contains("no free seat"), "{}: {reason}", c.what);
            assert!(
                item.target.is_none(),
                "{}: a refused user has no target",
                c.what
            );
        }
        let used: Vec<(String, u64)> = seats
            .iter()
            .map(
                |SeatUse {
                     user_plan, used, ..
                 }| (user_plan.clone(), *used),
            )
            .collect();
        let expected: Vec<(String, u64)> =
            c.used.iter().map(|(p, n)| ((*p).to_owned(), *n)).collect();
        assert_eq!(used, expected, "{}: seats used", c.what);
    }
}

/// A one-user plan is given only the accounts its items touch, and the other active
/// accounts' seats as counts per plan (the user page's way, which does not read every
/// account): it must decide exactly as when it is given every account.
fn assert_counting_elsewhere_decides_the_same(c: &Case) {
    let scope = Scope::User("someone".into());
    let mut every_items = c.items.clone();
    let every = allocate_seats(
        &catalog(&c.plans),
        &mut every_items,
        (&c.accounts, HashMap::new()),
        &scope,
        c.held,
    );
    let touched: HashSet<i64> = c.items.iter().filter_map(|i| i.account).collect();
    let (given, left): (Vec<CrmAccount>, Vec<CrmAccount>) = c
        .accounts
        .iter()
        .cloned()
        .partition(|a| touched.contains(&a.pk));
    let mut elsewhere: HashMap<String, u64> = HashMap::new();
    for a in left.iter().filter(|a| a.fields.active) {
        if let Some(plan) = &a.fields.user_plan {
            *elsewhere.entry(plan.to_string()).or_default() += 1;
        }
    }
    let mut counted_items = c.items.clone();
    let counted = allocate_seats(
        &catalog(&c.plans),
        &mut counted_items,
        (&given, elsewhere),
        &scope,
        c.held,
    );
    assert_eq!(counted_items, every_items, "{}: items", c.what);
    let sorted = |mut seats: Vec<SeatUse>| {
        seats.sort_by(|a, b| a.user_plan.cmp(&b.user_plan));
        seats
    };
    assert_eq!(sorted(counted), sorted(every), "{}: seats", c.what);
}
