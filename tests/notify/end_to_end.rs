//! From SCIM requests to a received e-mail and webhook: runs with rule errors, with a
//! plan out of seats, and held by the guard each reach the subscribers of that event
//! and nobody else.

use crate::fixture::{signed_with, Fixture};
use scimgate_notify::EventKind;
use scimgate_testkit::{on_both_backends, DbBackend, ReceivedMail, SmtpServer, WebhookReceiver};

on_both_backends!(
    rule_errors_mail_the_sync_error_subscribers_what_happened_and_where_to_look,
    a_plan_out_of_seats_reaches_only_the_seats_subscribers,
    a_held_run_reaches_only_the_held_subscribers,
    a_failed_run_reaches_only_the_failed_subscribers,
);

const ERRORS: &str = "errors@acme.no";
const SEATS: &str = "seats@acme.no";
const HELD: &str = "held@acme.no";
const ONCALL: &str = "oncall@acme.no";

/// Mail subscribers to one event each, a webhook for errors, seats and held runs, and a
/// webhook for failed runs only.
struct Subscribers {
    smtp: SmtpServer,
    hook: WebhookReceiver,
    hook_secret: String,
    failed_hook: WebhookReceiver,
    failed_hook_secret: String,
}

async fn subscribe_everyone(f: &Fixture, smtp: SmtpServer) -> Subscribers {
    f.subscribe_email(ERRORS, &[EventKind::SyncError]).await;
    f.subscribe_email(SEATS, &[EventKind::SeatsExhausted]).await;
    f.subscribe_email(HELD, &[EventKind::SyncHeld]).await;
    f.subscribe_email(
        ONCALL,
        &[EventKind::SyncFailed, EventKind::ScimAuthFailures],
    )
    .await;
    let hook = WebhookReceiver::start(&[]).await;
    let (_, hook_secret) = f
        .subscribe_webhook(
            &hook.url,
            &[
                EventKind::SyncError,
                EventKind::SeatsExhausted,
                EventKind::SyncHeld,
            ],
        )
        .await;
    let failed_hook = WebhookReceiver::start(&[]).await;
    let (_, failed_hook_secret) = f
        .subscribe_webhook(&failed_hook.url, &[EventKind::SyncFailed])
        .await;
    Subscribers {
        smtp,
        hook,
        hook_secret,
        failed_hook,
        failed_hook_secret,
    }
}

impl Subscribers {
    /// Asserts that exactly one mail went out, to `address`, and one webhook request for
    /// `event` to the one webhook subscribed to it (the other got nothing); returns both.
    fn only(&self, address: &str, event: &str) -> (ReceivedMail, serde_json::Value) {
        let mail = self.smtp.messages();
        assert_eq!(mail.len(), 1, "one mail, to {address}: {mail:#?}");
        assert_eq!(mail[0].rcpt_tos, [address]);
        assert_eq!(mail[0].to, address);
        assert_eq!(mail[0].mail_from, "noreply@scimgate.test");
        assert_eq!(mail[0].from, "scimgate <noreply@scimgate.test>");
        assert_eq!(mail[0].content_type, "multipart/alternative");
        let kinds: Vec<&str> = mail[0]
            .parts
            .iter()
            .map(|p| p.content_type.as_str())
            .collect();
        assert_eq!(kinds, ["text/plain", "text/html"]);
        let (subscribed, secret, other) = if event == "sync.failed" {
            (&self.failed_hook, &self.failed_hook_secret, &self.hook)
        } else {
            (&self.hook, &self.hook_secret, &self.failed_hook)
        };
        assert!(other.requests().is_empty(), "not subscribed to {event}");
        let requests = subscribed.requests();
        assert_eq!(requests.len(), 1, "{requests:#?}");
        assert!(signed_with(&requests[0], secret));
        assert_eq!(requests[0].header("x-scimgate-event"), Some(event));
        let body = requests[0].json();
        assert_eq!(body["event"], event);
        assert_eq!(body["status"], "firing");
        assert_eq!(body["tenant"], "acme");
        (mail[0].clone(), body)
    }
}

async fn rule_errors_mail_the_sync_error_subscribers_what_happened_and_where_to_look(
    backend: DbBackend,
) {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let to = subscribe_everyone(&f, smtp).await;
    let worker = f.worker(Some(to.smtp.port));
    // Seven users whose rules fail, one who is fine.
    for n in 0..7 {
        f.user(&format!("boss{n}@acme.no"), "Boss").await;
    }
    f.user("ann@acme.no", "Ops").await;
    let outcome = f.sync().await;
    assert_eq!((outcome.errors, outcome.created), (7, 1));

    assert_eq!(f.deliver(&worker).await, 2, "one mail and one webhook");
    let (mail, body) = to.only(ERRORS, "sync.error");
    // Subject: what, and which tenant.
    assert_eq!(mail.subject, "[scimgate] acme: 7 users could not be synced");
    // Body: what happened, how many users, the first errors, where to look.
    let text = mail.text();
    let look = format!(
        "Where to look: scimgate runs --tenant acme --run {}",
        outcome.run_id
    );
    let api = format!("GET /api/v1/tenants/acme/runs/{}", outcome.run_id);
    assert!(
        text.starts_with("Tenant acme: 7 users could not be synced\n"),
        "{text}"
    );
    assert!(
        text.contains("7 of 8 users could not be synced because of an error."),
        "{text}"
    );
    let listed: Vec<&str> = text.lines().filter(|l| l.starts_with("- boss")).collect();
    assert_eq!(listed.len(), 5, "the first five errors: {text}");
    for line in &listed {
        assert!(
            line.contains(": rule \"Boss role\"") && line.contains("Chief"),
            "{line}"
        );
    }
    assert!(text.contains("… and 2 more"), "{text}");
    assert!(text.contains(&look) && text.contains(&api), "{text}");
    assert!(
        !text.contains("ann@acme.no"),
        "only users in error are listed"
    );
    let html = mail.html();
    assert!(
        html.contains("<p>Tenant <b>acme</b>: 7 users could not be synced</p>"),
        "{html}"
    );
    assert!(
        html.contains("<li>7 of 8 users could not be synced because of an error.</li>"),
        "{html}"
    );
    assert_eq!(html.matches("<li>- boss").count(), 5, "{html}");
    assert!(
        html.contains("rule &quot;Boss role&quot;"),
        "escaped: {html}"
    );
    assert!(html.contains("<li>… and 2 more</li>"), "{html}");
    assert!(html.contains(&look) && html.contains(&api), "{html}");
    // The webhook carries the same facts as data.
    assert_eq!(body["run_id"], outcome.run_id);
    assert_eq!(body["title"], "7 users could not be synced");
    let details: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(details.len(), 1 + 5 + 1 + 1, "{details:#?}");
    assert_eq!(details[6], "… and 2 more");
    assert_eq!(details[7], format!("{look} (admin API: {api})"));
}

async fn a_plan_out_of_seats_reaches_only_the_seats_subscribers(backend: DbBackend) {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let to = subscribe_everyone(&f, smtp).await;
    let worker = f.worker(Some(to.smtp.port));
    // "Sales Premium" has one seat; two Sales users want it.
    let first = f.user("first@acme.no", "Sales").await;
    let second = f.user("second@acme.no", "Sales").await;
    f.group("Sales", &[&first, &second]).await;
    f.user("ann@acme.no", "Ops").await;
    let outcome = f.sync().await;
    assert_eq!((outcome.errors, outcome.created), (1, 2));

    assert_eq!(f.deliver(&worker).await, 2);
    // Not a sync.error: the seat is the problem, and it has its own event.
    let (mail, body) = to.only(SEATS, "seats.exhausted");
    assert_eq!(
        mail.subject,
        "[scimgate] acme: user plan \"Sales Premium\" has no free seats"
    );
    let text = mail.text();
    assert!(
        text.contains(
            "1 user did not get a \"Sales Premium\" seat. Buy more seats or change the rules."
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Where to look: scimgate runs --tenant acme --run {}",
            outcome.run_id
        )),
        "{text}"
    );
    assert!(
        mail.html()
            .contains("user plan &quot;Sales Premium&quot; has no free seats"),
        "{}",
        mail.html()
    );
    assert_eq!(body["run_id"], outcome.run_id);
}

async fn a_held_run_reaches_only_the_held_subscribers(backend: DbBackend) {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let to = subscribe_everyone(&f, smtp).await;
    let worker = f.worker(Some(to.smtp.port));
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(f.user(&format!("u{n}@acme.no"), "Ops").await);
    }
    assert_eq!(f.sync().await.created, 10);
    assert_eq!(f.deliver(&worker).await, 0, "a clean run sends nothing");

    // A scoping mistake in the IdP disables six of ten.
    for id in &ids[..6] {
        f.disable(id).await;
    }
    let outcome = f.sync().await;
    assert_eq!(
        (outcome.status, outcome.held, outcome.deprovisioned),
        (scimgate_scheduler::RunStatus::Held, 6, 0)
    );

    assert_eq!(f.deliver(&worker).await, 2);
    let (mail, body) = to.only(HELD, "sync.held");
    assert_eq!(
        mail.subject,
        "[scimgate] acme: a sync was held: it would deprovision 6 accounts"
    );
    let text = mail.text();
    for expected in [
        "The run would deprovision 6 accounts, more than the guard allows.",
        "Nothing was deprovisioned.",
        "approve or reject the run",
        &format!(
            "Where to look: scimgate runs --tenant acme --run {}",
            outcome.run_id
        ),
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    assert!(
        mail.html().contains("Nothing was deprovisioned."),
        "{}",
        mail.html()
    );
    assert_eq!(body["run_id"], outcome.run_id);
}

async fn a_failed_run_reaches_only_the_failed_subscribers(backend: DbBackend) {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let to = subscribe_everyone(&f, smtp).await;
    let worker = f.worker(Some(to.smtp.port));
    f.user("ann@acme.no", "Ops").await;
    // The CRM drops a role the saved rules name: the run cannot even start planning.
    let catalog = crate::fixture::CATALOG.replace("\"Sales user\", ", "");
    // Straight to the store, past the application's guard (which would refuse it), as
    // a CRM whose catalogue changed under scimgate would be.
    let catalog = scimgate_rules::Catalog::from_yaml(&catalog).unwrap();
    f.syncer
        .store()
        .edit_catalog(
            f.tenant(),
            scimgate_store::Expect::Any,
            scimgate_store::CatalogEdit::Replace(catalog),
            f.now(),
            |_, _| Ok::<(), scimgate_store::StoreError>(()),
        )
        .await
        .unwrap();
    let err = f
        .syncer
        .sync_company(f.tenant(), scimgate_scheduler::Trigger::ManualCompany)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no longer compiles"), "{err}");

    assert_eq!(f.deliver(&worker).await, 2);
    let (mail, body) = to.only(ONCALL, "sync.failed");
    assert_eq!(mail.subject, "[scimgate] acme: the sync could not complete");
    let text = mail.text();
    assert!(
        text.contains("Error: the saved rule set no longer compiles")
            && text.contains("Sales user")
            && text.contains("Where to look: scimgate runs --tenant acme --run "),
        "{text}"
    );
    assert!(body["run_id"].is_i64());
}
