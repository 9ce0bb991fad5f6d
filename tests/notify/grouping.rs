//! A problem that recurs run after run is one message, and its end one "resolved"
//! message, by e-mail and by webhook.

use crate::fixture::{signed_with, Fixture};
use scimgate_notify::EventKind;
use scimgate_testkit::{on_both_backends, DbBackend, SmtpServer, WebhookReceiver};

on_both_backends!(the_same_error_in_ten_runs_is_one_message_and_its_fix_one_resolved_message);

async fn the_same_error_in_ten_runs_is_one_message_and_its_fix_one_resolved_message(
    backend: DbBackend,
) {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let hook = WebhookReceiver::start(&[]).await;
    f.subscribe_email("ops@acme.no", &[EventKind::SyncError])
        .await;
    let (_, secret) = f
        .subscribe_webhook(&hook.url, &[EventKind::SyncError])
        .await;
    let worker = f.worker(Some(smtp.port));
    let boss = f.user("boss@acme.no", "Boss").await;
    f.user("ann@acme.no", "Ops").await;

    // Ten runs an hour apart (an hourly schedule), each with the same error.
    let mut run_ids = Vec::new();
    for run in 0..10 {
        let outcome = f.sync().await;
        assert_eq!(outcome.errors, 1, "run {run}");
        run_ids.push(outcome.run_id);
        f.deliver(&worker).await;
        f.clock.advance_hours(1);
    }
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert_eq!(hook.requests().len(), 1);
    let first = hook.requests()[0].json();
    assert_eq!(first["status"], "firing");
    assert_eq!(first["run_id"], run_ids[0], "sent by the first run");
    assert_eq!(f.outbox().await.len(), 2, "one message per subscriber");

    // The IdP fixes the department: the next run no longer has the error.
    f.set_department(&boss, "Ops").await;
    let fixed = f.sync().await;
    assert_eq!((fixed.errors, fixed.created), (0, 1));
    f.deliver(&worker).await;
    let mail = smtp.messages();
    assert_eq!(mail.len(), 2, "{mail:#?}");
    let resolved = &mail[1];
    assert_eq!(resolved.rcpt_tos, ["ops@acme.no"]);
    assert!(
        resolved.subject.starts_with("[scimgate] acme: resolved:")
            && resolved.subject.contains("Chief"),
        "{}",
        resolved.subject
    );
    assert!(
        resolved.text().contains("no longer shows this problem")
            && resolved.text().contains("9 recurrences"),
        "{}",
        resolved.text()
    );
    assert!(resolved
        .html()
        .contains("<li>The last sync no longer shows this problem"));
    let requests = hook.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| signed_with(r, &secret)));
    let end = requests[1].json();
    assert_eq!(end["event"], "sync.error");
    assert_eq!(end["status"], "resolved");
    assert_eq!(end["recurrences"], 9);
    assert_eq!(end["fingerprint"], first["fingerprint"], "the same problem");

    // Fixed stays quiet.
    for _ in 0..3 {
        f.clock.advance_hours(1);
        assert_eq!(f.sync().await.errors, 0);
        f.deliver(&worker).await;
    }
    assert_eq!(smtp.messages().len(), 2);
    assert_eq!(hook.requests().len(), 2);
    assert!(f.outbox().await.iter().all(|m| m.status == "delivered"));
}

on_both_backends!(a_new_error_beside_an_old_one_is_announced_without_resolving_the_old);

/// `(status, title)` of the queued sync.error webhook messages, oldest first.
async fn error_messages(f: &Fixture) -> Vec<(String, String)> {
    f.outbox()
        .await
        .iter()
        .filter(|m| m.event == "sync.error")
        .map(|m| {
            let body: serde_json::Value = serde_json::from_str(&m.payload).unwrap();
            (
                body["status"].as_str().unwrap().to_owned(),
                body["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn a_new_error_beside_an_old_one_is_announced_without_resolving_the_old(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    f.subscribe_webhook("http://127.0.0.1:9/hook", &[EventKind::SyncError])
        .await;
    let boss = f.user("boss@acme.no", "Boss").await;
    f.sync().await;
    assert_eq!(error_messages(&f).await.len(), 1);
    // A second, different error appears (a company the catalogue lacks) while the first
    // persists: announced, and the first is not called resolved.
    let extra = format!(
        "{}  - name: Boss company\n    applies_to: all\n    set:\n      owner_company:\n        expr: 'if user.enterprise.department == \"Boss2\" {{ \"Nowhere Ltd\" }} else {{ () }}'\n",
        crate::fixture::RULES.replace("      owner_company: \"Acme\"\n", "      owner_company: { value: \"Acme\", mode: if_not_set }\n")
    );
    let source = scimgate_scheduler::RuleSource {
        yaml: extra,
        scripts: Default::default(),
    };
    f.app()
        .save_rules(f.tenant(), scimgate_store::Expect::Any, source)
        .await
        .unwrap();
    let boss2 = f.user("boss2@acme.no", "Boss2").await;
    f.clock.advance_hours(1);
    f.sync().await;
    let messages = error_messages(&f).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages.iter().all(|(status, _)| status == "firing"),
        "{messages:?}"
    );
    assert_eq!(messages[1].1, "2 users could not be synced");
    // The second error goes away again within the day: {e1} was announced and is still
    // inside its window, so nothing is sent (errors flapping are not a message a run).
    f.set_department(&boss2, "Ops").await;
    f.clock.advance_hours(1);
    f.sync().await;
    let messages = error_messages(&f).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    // The first fixed too: one resolved message.
    f.set_department(&boss, "Ops").await;
    f.clock.advance_hours(1);
    f.sync().await;
    let messages = error_messages(&f).await;
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[2].0, "resolved");
}
