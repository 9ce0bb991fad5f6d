//! The audit log, on both databases: each kind of admin change is recorded with who made
//! it, through which front end and from where, and what it was before and after; the
//! filters narrow it, and another tenant's entries are never listed.

use crate::fixture::{draft, Fixture, RULES};
use scimgate_app::{Actor, AuditFilter, Expect, Via};
use scimgate_core::{CatalogKind, TenantName};
use scimgate_testkit::{on_both_backends, DbBackend};

on_both_backends!(
    every_admin_change_is_in_the_audit_log,
    sign_ins_are_logged_in_the_tenants_the_account_sees,
);

fn filter() -> AuditFilter {
    AuditFilter {
        limit: 100,
        ..Default::default()
    }
}

async fn every_admin_change_is_in_the_audit_log(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let tenant = f.tenant();
    let ann = f.app().acting_as(Actor::ui("ann", "10.1.2.3"));
    let api = f.app().acting_as(Actor {
        who: "admin API token 7 (deploy)".into(),
        via: Via::Api,
        from: "127.0.0.1".into(),
    });
    f.user("eve@acme.no", "e-eve", "Sales").await;

    // Rules: a draft, its publish, a restore; the catalogue; settings; a token; a sync.
    let edited = RULES.replace("Finance role", "Finance");
    let saved = (ann.save_rule_draft(tenant, Expect::Version(0), draft(&edited), None))
        .await
        .unwrap();
    let version = (ann.publish_rule_draft(tenant, Expect::Version(saved.version), "rename"))
        .await
        .unwrap();
    (ann.restore_rule_version(tenant, version - 1, Expect::Version(0)))
        .await
        .unwrap();
    let catalog = api.catalog(tenant).await.unwrap().version;
    (api.put_catalog_entry(
        tenant,
        Expect::Version(catalog),
        CatalogKind::UserPlan,
        "Standard",
        Some(9),
    ))
    .await
    .unwrap();
    let settings = ann.settings(tenant).await.unwrap();
    let mut changed = settings.value.clone();
    changed.guard_percent = 42;
    (ann.save_settings(tenant, Expect::Version(settings.version), &changed))
        .await
        .unwrap();
    let token = ann.create_scim_token(tenant, "entra").await.unwrap();
    ann.revoke_scim_token(tenant, token.info.id).await.unwrap();
    api.sync_user(tenant, "eve@acme.no").await.unwrap();
    // A refused change is not logged: nothing changed.
    let stale = (ann.save_settings(tenant, Expect::Version(settings.version), &changed)).await;
    assert!(stale.is_err());

    let log = f.app().audit_log(tenant, &filter()).await.unwrap();
    let actions: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.who.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("sync.user", "admin API token 7 (deploy)"),
            ("token.revoke", "ann"),
            ("token.create", "ann"),
            ("settings.save", "ann"),
            ("catalog.put", "admin API token 7 (deploy)"),
            ("rules.restore", "ann"),
            ("rules.publish", "ann"),
            ("rules.draft", "ann"),
            // The fixture's own set-up, by scimgate itself.
            ("rules.publish", "scimgate"),
            ("catalog.replace", "scimgate"),
        ]
    );
    let by_id = |action: &str| log.iter().find(|e| e.action == action).unwrap();
    let settings_entry = by_id("settings.save");
    assert_eq!(
        (settings_entry.via.as_str(), settings_entry.from.as_str()),
        ("ui", "10.1.2.3")
    );
    assert!(settings_entry
        .before
        .as_deref()
        .unwrap()
        .contains("\"guard_percent\":"));
    assert!(settings_entry
        .after
        .as_deref()
        .unwrap()
        .contains("\"guard_percent\":42"));
    let put = by_id("catalog.put");
    assert_eq!(put.via, "api");
    assert_eq!(
        put.after.as_deref(),
        Some(r#"{"name":"Standard","seats":9}"#)
    );
    assert_eq!(
        put.before.as_deref(),
        Some(r#"{"name":"Standard","seats":4}"#)
    );
    let publish = by_id("rules.publish");
    assert_eq!(publish.subject, format!("version {version}: rename"));
    let draft_entry = log.iter().rfind(|e| e.action == "rules.draft").unwrap();
    assert!(draft_entry.after.as_deref().unwrap().contains("Finance"));
    assert!(by_id("sync.user").subject.contains("eve@acme.no"));
    assert!(by_id("token.create").subject.contains("(entra)"));
    // The secret never is.
    assert!(log
        .iter()
        .all(|e| !format!("{e:?}").contains(&token.secret)));

    // Filters: area, who, text, paging.
    let rules = AuditFilter {
        area: "rules".into(),
        ..filter()
    };
    let listed = f.app().audit_log(tenant, &rules).await.unwrap();
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().all(|e| e.action.starts_with("rules.")));
    let by_api = AuditFilter {
        who: "admin API token 7 (deploy)".into(),
        ..filter()
    };
    assert_eq!(f.app().audit_log(tenant, &by_api).await.unwrap().len(), 2);
    let text = AuditFilter {
        text: "ENTRA".into(),
        ..filter()
    };
    let found = f.app().audit_log(tenant, &text).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    let literal = AuditFilter {
        text: "%".into(),
        ..filter()
    };
    assert!(f
        .app()
        .audit_log(tenant, &literal)
        .await
        .unwrap()
        .is_empty());
    let page = AuditFilter {
        limit: 3,
        ..filter()
    };
    let first = f.app().audit_log(tenant, &page).await.unwrap();
    let next = AuditFilter {
        before_id: Some(first[2].id),
        ..page
    };
    let second = f.app().audit_log(tenant, &next).await.unwrap();
    assert_eq!(second[0].action, log[3].action);
    let future = AuditFilter {
        since: "2999-01-01".into(),
        ..filter()
    };
    assert!(f.app().audit_log(tenant, &future).await.unwrap().is_empty());
    let until = AuditFilter {
        until: "2999-01-01".into(),
        ..filter()
    };
    assert_eq!(
        f.app().audit_log(tenant, &until).await.unwrap().len(),
        log.len()
    );

    // Another tenant sees none of it.
    let store = &f.server.store;
    let name = TenantName::parse("other").unwrap();
    let other = store
        .create_tenant(
            &name,
            scimgate_core::Clock::now(&scimgate_core::SystemClock),
        )
        .await
        .unwrap();
    assert!(f
        .app()
        .audit_log(&other, &filter())
        .await
        .unwrap()
        .is_empty());
    // CSV: a header and one line per entry.
    let csv = scimgate_app::audit_csv(&log);
    assert_eq!(csv.lines().count(), log.len() + 1);
    assert!(csv.starts_with("\"id\",\"at\",\"who\""));
}

async fn sign_ins_are_logged_in_the_tenants_the_account_sees(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let tenant = f.tenant();
    let app = f.app();
    (app.create_admin_account(
        "ada",
        "a long enough password",
        scimgate_core::AdminRole::Administrator,
        std::slice::from_ref(&tenant.name),
    ))
    .await
    .unwrap();
    let from = |who: &str| f.app().acting_as(Actor::ui(who, "192.0.2.9"));
    from("ada")
        .sign_in("ada", "a long enough password")
        .await
        .unwrap();
    assert!(from("ada").sign_in("ada", "wrong").await.is_err());
    assert!(from("nobody").sign_in("nobody", "x").await.is_err());
    let signs = AuditFilter {
        area: "sign_in".into(),
        ..filter()
    };
    let log = app.audit_log(tenant, &signs).await.unwrap();
    let seen: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.subject.as_str(), e.from.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("sign_in.failed", "account ada", "192.0.2.9"),
            ("sign_in.ok", "account ada", "192.0.2.9"),
        ]
    );
    // A name that is no account belongs to no tenant.
    let outside = app.audit_log_outside_tenants(&signs).await.unwrap();
    assert!(
        outside.iter().any(|e| e.subject == "account nobody"),
        "{outside:?}"
    );
}
