//! The stored preview (the Preview page's rows), on both databases: after each kind of
//! change — a SCIM write, a new user, a group, a deleted user, a draft save, a publish,
//! a sync, a catalogue change, seats running short — it equals the plan computed fresh,
//! row for row, with the same totals and seats. A few SCIM writes update it user by
//! user (the generation stays); anything wider recomputes it.

use crate::fixture::{draft, Fixture, RULES};
use scimgate_app::Expect;
use scimgate_scheduler::{preview_row, Refresh, StoredPreview, Trigger};
use scimgate_store::{
    PreviewColumn, PreviewCursor, PreviewQuery, PreviewRow, PreviewRules, PreviewSort,
};
use scimgate_testkit::{on_both_backends, DbBackend};
use std::collections::HashMap;

on_both_backends!(
    the_stored_preview_equals_a_fresh_plan_after_every_kind_of_change,
    the_background_refresher_brings_stale_previews_up_to_date,
    filters_sorts_and_pages_in_sql_mean_what_they_mean_in_memory,
    a_user_moving_off_a_full_plan_keeps_its_seat_until_its_turn,
    an_update_computed_from_an_older_state_is_refused,
);

/// Brings the stored preview up to date, and checks it row for row against the plan
/// computed now. Returns it.
async fn assert_current(f: &Fixture, rules: PreviewRules, what: &str) -> StoredPreview {
    let tenant = f.tenant();
    let stored = f
        .syncer
        .stored_preview(tenant, rules, Refresh::IfStale)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{what}: no {} preview", rules.name()));
    assert!(!stored.stale, "{what}: still stale");
    assert_eq!(stored.summary.problem, None, "{what}");
    let mut rows = all_rows(f, rules, stored.state.generation).await;
    let source = match rules {
        PreviewRules::Published => None,
        PreviewRules::Draft => Some(
            f.server
                .store
                .rule_draft(tenant)
                .await
                .unwrap()
                .value
                .unwrap()
                .source,
        ),
    };
    let plan = f.syncer.preview(tenant, source.as_ref()).await.unwrap();
    let accounts = f.accounts().await;
    let by_pk: HashMap<i64, _> = accounts.iter().map(|a| (a.pk, a)).collect();
    let mut fresh: Vec<PreviewRow> = plan.items.iter().map(|i| preview_row(i, &by_pk)).collect();
    fresh.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    rows.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    assert_eq!(rows, fresh, "{what}: rows");
    assert_eq!(stored.summary.totals, plan.totals, "{what}: totals");
    assert_eq!(stored.summary.seats, plan.seats, "{what}: seats");
    assert_eq!(
        stored.summary.deprovisions_held, plan.deprovisions_held,
        "{what}: guard"
    );
    stored
}

async fn the_stored_preview_equals_a_fresh_plan_after_every_kind_of_change(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let tenant = f.tenant();
    let app = f.app();
    let published = PreviewRules::Published;
    let ann = f.user("ann@acme.no", "e-ann", "Sales").await;
    let bob = f.user("bob@acme.no", "e-bob", "Finance").await;
    let cat = f.user("cat@acme.no", "e-cat", "Support").await;
    let sales = f.group("Sales", &[&ann]).await;
    let first = assert_current(&f, published, "first computation").await;
    assert_eq!(first.summary.totals.create, 3);

    // One SCIM write: brought up to date user by user, in the same generation.
    f.set_department(&cat, "Finance").await;
    let after = assert_current(&f, published, "a department changed").await;
    assert_eq!(
        after.state.generation, first.state.generation,
        "updated in place"
    );
    let cat_row = row_of(&f, &after, &cat).await;
    assert_eq!(cat_row.role.as_deref(), Some("Finance user"));

    // A new user and a user switched off, the same way.
    let dan = f.user("dan@acme.no", "e-dan", "Support").await;
    f.set_active(&bob, false).await;
    let after = assert_current(&f, published, "a user added, one deactivated").await;
    assert_eq!(after.state.generation, first.state.generation);
    assert_eq!(after.summary.totals.users_received, 4);

    // A group's members change many users at once: computed whole.
    let (status, body) = f
        .server
        .patch(
            &format!("/Groups/{sales}"),
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": dan}]}]
            }),
        )
        .await;
    assert!(status == 200 || status == 204, "{status} {body}");
    let after = assert_current(&f, published, "a group gained a member").await;
    assert_ne!(
        after.state.generation, first.state.generation,
        "computed whole"
    );

    // A draft: its own preview; the published one stays current.
    app.save_rule_draft(
        tenant,
        Expect::Version(0),
        draft(&RULES.replace("role: \"Sales user\"", "role: \"User\"")),
        None,
    )
    .await
    .unwrap();
    let published_now = f
        .syncer
        .stored_preview(tenant, published, Refresh::IfMissing)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !published_now.stale,
        "a draft save leaves the published preview current"
    );
    let drafted = assert_current(&f, PreviewRules::Draft, "a draft saved").await;
    let ann_draft = row_of(&f, &drafted, &ann).await;
    assert_eq!(ann_draft.role.as_deref(), Some("User"));

    // A sync: the accounts move, every action with them.
    f.syncer
        .sync_company(tenant, Trigger::ManualCompany)
        .await
        .unwrap();
    let after = assert_current(&f, published, "after a sync").await;
    assert_eq!(after.summary.totals.create, 0);
    assert_current(&f, PreviewRules::Draft, "the draft after a sync").await;

    // Publishing the draft; then no draft preview is left.
    let draft_version = app.rule_draft(tenant).await.unwrap().version;
    app.publish_rule_draft(tenant, Expect::Version(draft_version), "Sales as users")
        .await
        .unwrap();
    let after = assert_current(&f, published, "a publish").await;
    // Ann loses Sales user (Dan has none: Sales Premium's one seat is Ann's).
    assert_eq!(after.summary.totals.update, 1, "{:?}", after.summary.totals);
    assert!(f
        .syncer
        .stored_preview(tenant, PreviewRules::Draft, Refresh::IfStale)
        .await
        .unwrap()
        .is_none());

    // Seats cut below what is used: errors for the users beyond them.
    f.set_catalog(&crate::fixture::CATALOG.replace("seats: 4", "seats: 1"))
        .await;
    let after = assert_current(&f, published, "seats cut").await;
    assert!(after.summary.totals.error > 0, "{:?}", after.summary.totals);

    // Seats short: a SCIM write recomputes the whole preview (who gets a seat is the
    // company's order).
    let before = after.state.generation;
    f.set_department(&dan, "Sales").await;
    let after = assert_current(&f, published, "a write while seats are short").await;
    assert_ne!(after.state.generation, before);

    // A user deleted in the IdP: its account is deprovisioned.
    f.set_catalog(crate::fixture::CATALOG).await;
    let (status, _) = f.server.delete(&format!("/Users/{cat}")).await;
    assert_eq!(status, 204);
    let after = assert_current(&f, published, "a user deleted").await;
    let gone = row_of(&f, &after, &cat).await;
    assert_eq!(gone.action, "deprovision");
    assert!(!gone.staged);
}

async fn the_background_refresher_brings_stale_previews_up_to_date(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let tenant = f.tenant();
    let ann = f.user("ann@acme.no", "e-ann", "Sales").await;
    // Nobody looked at a preview yet: nothing to keep.
    assert_eq!(f.syncer.refresh_stale_previews().await.unwrap(), 0);
    assert_current(&f, PreviewRules::Published, "first").await;
    f.set_department(&ann, "Finance").await;
    assert_eq!(f.syncer.refresh_stale_previews().await.unwrap(), 1);
    let now = f
        .syncer
        .stored_preview(tenant, PreviewRules::Published, Refresh::IfMissing)
        .await
        .unwrap()
        .unwrap();
    assert!(!now.stale, "the background brought it up to date");
    assert_eq!(f.syncer.refresh_stale_previews().await.unwrap(), 0);
}

async fn row_of(f: &Fixture, preview: &StoredPreview, user_id: &str) -> PreviewRow {
    let rows = f
        .server
        .store
        .preview_rows_of(
            f.tenant(),
            PreviewRules::Published,
            preview.state.generation,
            &[user_id.to_owned()],
        )
        .await
        .unwrap();
    let draft_rows = f
        .server
        .store
        .preview_rows_of(
            f.tenant(),
            PreviewRules::Draft,
            preview.state.generation,
            &[user_id.to_owned()],
        )
        .await
        .unwrap();
    rows.into_iter()
        .chain(draft_rows)
        .next()
        .unwrap_or_else(|| panic!("{user_id} not in the preview"))
}

async fn filters_sorts_and_pages_in_sql_mean_what_they_mean_in_memory(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let tenant = f.tenant();
    let app = f.app();
    let mut ids = Vec::new();
    for (name, department) in [
        ("Åse.Øvergård@acme.no", "Sales"),
        ("ase@acme.no", "Finance"),
        ("Zoë@acme.no", "Support"),
        ("bob_50%@acme.no", "Finance"),
        ("carl@acme.no", "Support"),
        ("dina@acme.no", "Sales"),
        ("emil@acme.no", "Finance"),
    ] {
        ids.push(f.user(name, &format!("e-{name}"), department).await);
    }
    f.group("Sales", &[&ids[0], &ids[5]]).await;
    f.set_active(&ids[4], false).await;
    let preview = app
        .current_preview(tenant, PreviewRules::Published)
        .await
        .unwrap()
        .unwrap();
    let generation = preview.state.generation;
    let all = all_rows(&f, PreviewRules::Published, generation).await;
    assert_eq!(all.len(), 7);
    let filters = [
        "username:equals:ÅSE.ØVERGÅRD@ACME.NO",
        "username:not_equals:ase@acme.no",
        "username:contains:_50%",
        "username:not_contains:å",
        "username:starts_with:zo",
        "username:ends_with:NO",
        "role:null",
        "role:not_null",
        "secondary_groups:empty",
        "primary_group:not_empty",
        "role:one_of:sales user|FINANCE USER",
        "user_plan:changed",
        "role:equals:",
        "action:equals:create",
        "reason:contains:inactive",
        "confidential:equals:false",
    ];
    let mut kept_some = 0;
    for text in filters {
        let filter = scimgate_app::preview::parse_filter(text).unwrap();
        let expected: Vec<&str> = all
            .iter()
            .filter(|r| scimgate_app::preview::matches(&filter, r))
            .map(|r| r.user_id.as_str())
            .collect();
        let query = scimgate_app::preview::PreviewQuery {
            filters: vec![filter],
            sort: vec![PreviewSort {
                column: PreviewColumn::UserId,
                descending: false,
            }],
        };
        let got = app
            .preview_chunk(
                tenant,
                PreviewRules::Published,
                generation,
                &query,
                None,
                100,
            )
            .await
            .unwrap();
        let mut expected = expected;
        expected.sort();
        let got: Vec<&str> = got.iter().map(|r| r.user_id.as_str()).collect();
        assert_eq!(got, expected, "{text}");
        kept_some += usize::from(!got.is_empty() && got.len() < all.len());
    }
    assert!(
        kept_some >= 10,
        "most filters keep some rows and not all: {kept_some}"
    );
    // Every sort, both ways, paged three at a time forward and back, is the order the
    // keys give in memory.
    for sort in [
        "username",
        "-role",
        "role,-username",
        "-primary_group,user_plan",
        "confidential",
    ] {
        let query = scimgate_app::preview::PreviewQuery::parse([], Some(sort), None).unwrap();
        let mut expected = all.clone();
        expected.sort_by(|a, b| {
            let mut order = std::cmp::Ordering::Equal;
            for key in &query.sort {
                order = order.then_with(|| {
                    let o = key.column.key(a).cmp(&key.column.key(b));
                    if key.descending {
                        o.reverse()
                    } else {
                        o
                    }
                });
            }
            order.then_with(|| a.user_id.cmp(&b.user_id))
        });
        let expected: Vec<String> = expected.into_iter().map(|r| r.user_id).collect();
        let mut forward = Vec::new();
        let mut pages = Vec::new();
        let mut at = scimgate_app::preview_page::PageAt::First;
        loop {
            let page = app
                .preview_page(
                    tenant,
                    PreviewRules::Published,
                    preview.clone(),
                    &query,
                    &at,
                    (0, 3),
                )
                .await
                .unwrap();
            assert_eq!(page.matching.total, 7);
            forward.extend(page.rows.iter().map(|r| r.user_id.clone()));
            pages.push(
                page.rows
                    .iter()
                    .map(|r| r.user_id.clone())
                    .collect::<Vec<_>>(),
            );
            match page.next {
                Some(next) => at = scimgate_app::preview_page::PageAt::After(next),
                None => break,
            }
        }
        assert_eq!(forward, expected, "sort {sort}");
        // Back from the last page.
        let last = app
            .preview_page(
                tenant,
                PreviewRules::Published,
                preview.clone(),
                &query,
                &at,
                (0, 3),
            )
            .await
            .unwrap();
        let back = app
            .preview_page(
                tenant,
                PreviewRules::Published,
                preview.clone(),
                &query,
                &scimgate_app::preview_page::PageAt::Before(last.previous.clone().unwrap()),
                (0, 3),
            )
            .await
            .unwrap();
        let back: Vec<String> = back.rows.iter().map(|r| r.user_id.clone()).collect();
        assert_eq!(back, pages[pages.len() - 2], "sort {sort}: a page back");
    }
}

async fn all_rows(f: &Fixture, rules: PreviewRules, generation: i64) -> Vec<PreviewRow> {
    f.server
        .store
        .preview_page(
            f.tenant(),
            rules,
            generation,
            &PreviewQuery {
                filters: Vec::new(),
                sort: vec![PreviewSort {
                    column: PreviewColumn::UserId,
                    descending: false,
                }],
                cursor: PreviewCursor::First,
                limit: 10_000,
                offset: 0,
            },
        )
        .await
        .unwrap()
}

/// While the company's plan hands out seats, a user moving to another plan keeps the old
/// one until its turn: a new user planned alone sees a free seat the company's plan does
/// not give. The stored preview must say what the company's plan says.
async fn a_user_moving_off_a_full_plan_keeps_its_seat_until_its_turn(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let tenant = f.tenant();
    let published = PreviewRules::Published;
    f.set_catalog(
        &crate::fixture::CATALOG
            .replace("seats: 4", "seats: 3")
            .replace("seats: 1", "seats: 5"),
    )
    .await;
    // Cat and Dan arrive first but are switched off; Ann and Bob get Standard accounts.
    let cat = f.user("cat@acme.no", "e-cat", "Support").await;
    let dan = f.user("dan@acme.no", "e-dan", "Support").await;
    f.set_active(&cat, false).await;
    f.set_active(&dan, false).await;
    let ann = f.user("ann@acme.no", "e-ann", "Support").await;
    let bob = f.user("bob@acme.no", "e-bob", "Support").await;
    f.syncer
        .sync_company(tenant, Trigger::ManualCompany)
        .await
        .unwrap();
    // Bob (arrived last) moves to Sales Premium: his Standard seat is his until his turn.
    f.group("Sales", &[&bob]).await;
    assert_current(&f, published, "bob moves to Sales Premium").await;
    f.set_active(&cat, true).await;
    let with_cat = assert_current(&f, published, "cat wants Standard").await;
    assert_eq!(row_of(&f, &with_cat, &cat).await.action, "create");
    // Dan, planned alone, would see a free Standard seat (Ann and Bob hold two of three);
    // the company's plan gives Ann, then Cat (who came first), the seats, while Bob still
    // holds his: Dan is refused.
    f.set_active(&dan, true).await;
    let with_dan = assert_current(&f, published, "dan wants Standard").await;
    let dan_row = row_of(&f, &with_dan, &dan).await;
    assert_eq!(dan_row.action, "error", "{dan_row:?}");
    let _ = ann;
}

/// Two refreshers (a page and the background, two replicas) may compute an update from
/// the same state: the second to commit is refused, or its totals would count twice.
async fn an_update_computed_from_an_older_state_is_refused(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let tenant = f.tenant();
    let published = PreviewRules::Published;
    let ann = f.user("ann@acme.no", "e-ann", "Sales").await;
    let before = assert_current(&f, published, "first").await;
    f.set_department(&ann, "Finance").await;
    let after = assert_current(&f, published, "an update").await;
    assert_eq!(after.state.generation, before.state.generation);
    assert_ne!(after.state.change_seq, before.state.change_seq);
    // An update computed from `before`, committed late.
    let late = scimgate_store::PreviewState {
        change_seq: after.state.change_seq + 1,
        ..after.state.clone()
    };
    let row = row_of(&f, &after, &ann).await;
    let taken = f
        .server
        .store
        .update_preview_rows(
            tenant,
            published,
            (late, before.state.change_seq),
            Vec::new(),
            vec![row],
        )
        .await
        .unwrap();
    assert!(!taken, "refused: the state moved on");
    assert_current(&f, published, "unchanged by the refused update").await;
}
