//! Rule set versions and the draft, on both databases: every publish is kept, a draft is
//! previewed without touching the published set or the accounts, publishing from an
//! older base is refused, any version can be compared and restored.

use crate::fixture::{draft, item, Fixture, RULES};
use scimgate_app::{Actor, AppError, Expect, RuleSetRef};
use scimgate_scheduler::{Action, Trigger};
use scimgate_testkit::{on_both_backends, DbBackend};

on_both_backends!(
    a_draft_is_previewed_published_and_restored,
    a_publish_from_an_older_base_is_refused,
    a_draft_that_does_not_compile_is_not_saved,
    a_draft_begun_from_an_older_published_version_is_refused,
    each_rule_counts_the_staged_users_it_applies_to,
    a_sync_uses_the_draft_only_when_asked,
);

/// RULES with Sales users on the Standard plan instead of Sales Premium.
fn sales_on_standard() -> String {
    RULES.replace(
        "      user_plan: \"Sales Premium\"\n",
        "      user_plan: \"Standard\"\n",
    )
}

async fn a_draft_is_previewed_published_and_restored(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let app = f.app().acting_as(Actor::ui("ops", "127.0.0.1"));
    let tenant = f.tenant();
    let ann = f.user("ann@acme.no", "e-ann", "Sales").await;
    f.group("Sales", &[&ann]).await;
    f.syncer
        .sync_company(tenant, Trigger::ManualCompany)
        .await
        .unwrap();
    let account = f.account_of(&ann).await.unwrap();
    assert_eq!(account.fields.user_plan.as_deref(), Some("Sales Premium"));
    // The fixture's rule set is the first kept version.
    let versions = app.rule_versions(tenant).await.unwrap();
    assert_eq!(versions.len(), 1, "{versions:?}");
    let first = versions[0].version;
    assert!(app.rule_draft(tenant).await.unwrap().value.is_none());

    // A draft: Sales on Standard.
    let saved = app
        .save_rule_draft(
            tenant,
            Expect::Version(0),
            draft(&sales_on_standard()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(saved.value.base_version, first);
    assert_eq!(saved.value.changes.changed, ["Sales"]);
    assert_eq!(saved.value.updated_by, "ops");
    // Previewing it shows the change; the published set and the account are untouched.
    let plan = app.preview_draft(tenant).await.unwrap();
    let step = item(&plan, &ann);
    assert_eq!(step.action, Action::Update);
    assert_eq!(
        step.target.as_ref().unwrap().user_plan.as_deref(),
        Some("Standard")
    );
    assert_eq!(item(&f.preview().await, &ann).action, Action::Unchanged);
    assert_eq!(app.rule_set(tenant).await.unwrap().version, first);
    assert_eq!(f.account_of(&ann).await.unwrap(), account);
    // Automatic and manual syncs use the published set only.
    let outcome = f
        .syncer
        .sync_company(tenant, Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!((outcome.updated, outcome.unchanged), (0, 1));

    // Publish with a comment: a new version, the draft gone, sync applies it.
    let draft_version = app.rule_draft(tenant).await.unwrap().version;
    let refused = app
        .publish_rule_draft(tenant, Expect::Version(draft_version), "  ")
        .await
        .unwrap_err();
    assert!(matches!(refused, AppError::Invalid(_)), "{refused:?}");
    let second = app
        .publish_rule_draft(tenant, Expect::Version(draft_version), "Sales to Standard")
        .await
        .unwrap();
    assert!(second > first);
    assert!(app.rule_draft(tenant).await.unwrap().value.is_none());
    let versions = app.rule_versions(tenant).await.unwrap();
    assert_eq!(
        (
            versions[0].version,
            versions[0].comment.as_str(),
            versions[0].published_by.as_str()
        ),
        (second, "Sales to Standard", "ops")
    );
    let outcome = f
        .syncer
        .sync_company(tenant, Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(outcome.updated, 1);
    let diff = app
        .diff_rule_sets(
            tenant,
            RuleSetRef::Version(first),
            RuleSetRef::Version(second),
        )
        .await
        .unwrap();
    assert_eq!(diff.changed, ["Sales"]);
    assert!(diff.added.is_empty() && diff.removed.is_empty() && diff.moved.is_empty());

    // Restore the first version as the draft, publish it: Sales Premium again.
    let restored = app
        .restore_rule_version(tenant, first, Expect::Version(0))
        .await
        .unwrap();
    assert_eq!(restored.value.base_version, second);
    assert_eq!(restored.value.changes.changed, ["Sales"]);
    let third = app
        .publish_rule_draft(tenant, Expect::Version(restored.version), "back")
        .await
        .unwrap();
    let (_, now) = app.rule_version(tenant, third).await.unwrap();
    let (_, was) = app.rule_version(tenant, first).await.unwrap();
    assert_eq!(now.source, was.source);
    f.syncer
        .sync_company(tenant, Trigger::ManualCompany)
        .await
        .unwrap();
    let account = f.account_of(&ann).await.unwrap();
    assert_eq!(account.fields.user_plan.as_deref(), Some("Sales Premium"));
    assert!(matches!(
        app.rule_version(tenant, 999).await.unwrap_err(),
        AppError::NotFound(_)
    ));
}

async fn a_publish_from_an_older_base_is_refused(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let app = f.app().acting_as(Actor::ui("ann", "127.0.0.1"));
    let bob = f.app().acting_as(Actor::ui("bob", "127.0.0.2"));
    let tenant = f.tenant();
    let published = app.rule_set(tenant).await.unwrap();
    // Two admins read the same draft; the first publishes.
    let saved = app
        .save_rule_draft(
            tenant,
            Expect::Version(0),
            draft(&sales_on_standard()),
            None,
        )
        .await
        .unwrap();
    app.publish_rule_draft(tenant, Expect::Version(saved.version), "mine")
        .await
        .unwrap();
    let second = bob
        .publish_rule_draft(tenant, Expect::Version(saved.version), "theirs")
        .await
        .unwrap_err();
    assert!(matches!(second, AppError::Stale(_)), "{second:?}");
    assert_eq!(app.rule_versions(tenant).await.unwrap().len(), 2);

    // A draft begun before someone published the whole set another way (the API's PUT,
    // the CLI's apply) is refused at publish: it would silently undo that change.
    let draft_now = app.rule_draft(tenant).await.unwrap().version;
    let begun = app
        .save_rule_draft(tenant, Expect::Version(draft_now), draft(RULES), None)
        .await
        .unwrap();
    app.save_rules(
        tenant,
        Expect::Any,
        draft(&sales_on_standard().replace("Everyone", "All")),
    )
    .await
    .unwrap();
    let refused = app
        .publish_rule_draft(tenant, Expect::Version(begun.version), "late")
        .await
        .unwrap_err();
    let AppError::Stale(stale) = refused else {
        panic!("{refused:?}");
    };
    assert!(stale.what.contains("published again"), "{stale:?}");
    // Nothing changed: the published set is the one saved last, the draft still there.
    let now = app.rule_set(tenant).await.unwrap();
    assert!(now.version > published.version);
    assert!(now.value.rules.iter().any(|r| r.name == "All"));
    assert!(app.rule_draft(tenant).await.unwrap().value.is_some());
    // Restoring rebases the draft on what is published now, so it can be published.
    let latest = app.rule_versions(tenant).await.unwrap()[0].version;
    let restored = app
        .restore_rule_version(tenant, latest - 1, Expect::Version(begun.version))
        .await
        .unwrap();
    assert_eq!(restored.value.base_version, latest);
    app.publish_rule_draft(tenant, Expect::Version(restored.version), "restored")
        .await
        .unwrap();
}

async fn a_draft_that_does_not_compile_is_not_saved(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let app = f.app();
    let tenant = f.tenant();
    let broken = RULES.replace("\"Sales Premium\"", "\"Platinum\"");
    let refused = app
        .save_rule_draft(tenant, Expect::Version(0), draft(&broken), None)
        .await
        .unwrap_err();
    let AppError::Rules { problems, .. } = refused else {
        panic!("{refused:?}");
    };
    let text = scimgate_rules::problems_text(&problems);
    assert!(
        text.contains("Sales") && text.contains("Platinum"),
        "{text}"
    );
    assert!(app.rule_draft(tenant).await.unwrap().value.is_none());
    // A stale draft version is refused too, and changes nothing.
    let stale = app
        .save_rule_draft(tenant, Expect::Version(5), draft(RULES), None)
        .await
        .unwrap_err();
    assert!(matches!(stale, AppError::Stale(_)), "{stale:?}");
    assert!(app.rule_draft(tenant).await.unwrap().value.is_none());
    // Discarding when there is no draft says so.
    let none = app
        .discard_rule_draft(tenant, Expect::Version(0))
        .await
        .unwrap_err();
    assert!(matches!(none, AppError::NotFound(_)), "{none:?}");
}

/// An admin reads the rules at version N and begins a draft from them after someone else
/// published N+1: the draft is refused, or publishing it would undo N+1.
async fn a_draft_begun_from_an_older_published_version_is_refused(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let app = f.app();
    let tenant = f.tenant();
    let read = app.rule_set(tenant).await.unwrap().version;
    app.save_rules(tenant, Expect::Any, draft(&sales_on_standard()))
        .await
        .unwrap();
    let refused = app
        .save_rule_draft(tenant, Expect::Version(0), draft(RULES), Some(read))
        .await
        .unwrap_err();
    let AppError::Stale(stale) = refused else {
        panic!("{refused:?}");
    };
    assert_eq!((stale.expected, stale.current), (read, read + 1));
    assert!(app.rule_draft(tenant).await.unwrap().value.is_none());
    // Read again, it is accepted; a draft in progress keeps its base.
    let now = app.rule_set(tenant).await.unwrap().version;
    let saved = app
        .save_rule_draft(tenant, Expect::Version(0), draft(RULES), Some(now))
        .await
        .unwrap();
    assert_eq!(saved.value.base_version, now);
}

/// The Rules page's counts: how many staged users each rule applies to, for the draft
/// and the published set (a rule switched off applies to nobody).
async fn each_rule_counts_the_staged_users_it_applies_to(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let app = f.app();
    let tenant = f.tenant();
    let ann = f.user("ann@acme.no", "e-ann", "Sales").await;
    f.user("bob@acme.no", "e-bob", "Finance").await;
    let cid = f.user("cid@acme.no", "e-cid", "Finance").await;
    f.group("Sales", &[&ann]).await;
    f.group("Contractors", &[&cid]).await;
    let counts = app
        .rule_matches(tenant, RuleSetRef::Published)
        .await
        .unwrap();
    assert_eq!(
        counts,
        [
            ("Sales".to_owned(), 1),
            ("Finance role".to_owned(), 3),
            ("Everyone".to_owned(), 2),
        ]
    );
    let off = RULES.replace("  - name: Sales\n", "  - name: Sales\n    active: false\n");
    app.save_rule_draft(tenant, Expect::Version(0), draft(&off), None)
        .await
        .unwrap();
    let counts = app.rule_matches(tenant, RuleSetRef::Draft).await.unwrap();
    assert_eq!(counts[0], ("Sales".to_owned(), 0));
}

/// A manual sync may use the draft; the run says so, the draft stays a draft, and the
/// next sync with the published rules puts the accounts back.
async fn a_sync_uses_the_draft_only_when_asked(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let app = f.app();
    let tenant = f.tenant();
    let ann = f.user("ann@acme.no", "e-ann", "Sales").await;
    f.group("Sales", &[&ann]).await;
    let none = app
        .sync_company_with(tenant, RuleSetRef::Draft)
        .await
        .unwrap_err();
    assert!(matches!(none, AppError::NotFound(_)), "{none:?}");
    let old = app
        .sync_company_with(tenant, RuleSetRef::Version(1))
        .await
        .unwrap_err();
    assert!(matches!(old, AppError::Invalid(_)), "{old:?}");
    app.save_rule_draft(
        tenant,
        Expect::Version(0),
        draft(&sales_on_standard()),
        None,
    )
    .await
    .unwrap();
    let outcome = app
        .sync_user_with(tenant, "ann@acme.no", RuleSetRef::Draft)
        .await
        .unwrap();
    assert_eq!(outcome.created, 1);
    let plan_of = |account: Option<scimgate_core::CrmAccount>| account.unwrap().fields.user_plan;
    assert_eq!(
        plan_of(f.account_of(&ann).await).as_deref(),
        Some("Standard")
    );
    let (run, _) = app.run(tenant, outcome.run_id).await.unwrap();
    assert_eq!(run.rules, "draft");
    assert!(
        app.rule_draft(tenant).await.unwrap().value.is_some(),
        "still a draft"
    );
    let back = app.sync_company(tenant).await.unwrap();
    assert_eq!(back.updated, 1);
    assert_eq!(
        plan_of(f.account_of(&ann).await).as_deref(),
        Some("Sales Premium")
    );
    let (run, _) = app.run(tenant, back.run_id).await.unwrap();
    assert_eq!(run.rules, "published");
    let again = app
        .sync_company_with(tenant, RuleSetRef::Draft)
        .await
        .unwrap();
    assert_eq!(again.updated, 1);
    let log = app
        .audit_log(
            tenant,
            &scimgate_app::AuditFilter {
                area: "sync".into(),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        log[0].subject.ends_with(", with the draft rules"),
        "{log:?}"
    );
    assert!(!log[1].subject.contains("draft"), "{log:?}");
}
