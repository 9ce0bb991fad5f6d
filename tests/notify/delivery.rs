//! The delivery worker against real receivers: an SMTP server that is down for a while,
//! a webhook that fails once, and a webhook that refuses. Driven by `run_once` with the
//! clock moved past each backoff, never by sleeping.

use crate::fixture::{signed_with, Fixture, FIRST_BACKOFF_MS};
use scimgate_notify::EventKind;
use scimgate_testkit::smtp::{free_port, smtp_available};
use scimgate_testkit::{on_both_backends, DbBackend, SmtpServer, WebhookReceiver};

on_both_backends!(
    mail_waits_in_the_outbox_while_smtp_is_down_and_goes_out_once_it_is_back,
    a_webhook_answering_500_then_200_gets_the_message_exactly_once,
    a_webhook_answering_400_makes_the_message_dead_without_retrying,
);

/// One user whose rules fail: the run records a `sync.error` message per subscriber.
async fn failing_run(f: &Fixture) -> i64 {
    f.user("boss@acme.no", "Boss").await;
    let outcome = f.sync().await;
    assert_eq!(outcome.errors, 1);
    outcome.run_id
}

async fn mail_waits_in_the_outbox_while_smtp_is_down_and_goes_out_once_it_is_back(
    backend: DbBackend,
) {
    if !smtp_available() {
        return;
    }
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    f.subscribe_email("ops@acme.no", &[EventKind::SyncError])
        .await;
    failing_run(&f).await;
    // Nothing listens on this port yet.
    let port = free_port();
    let worker = f.worker(Some(port));

    assert_eq!(worker.run_once().await.unwrap(), 1);
    let [entry] = &f.outbox().await[..] else {
        panic!("one message expected: {:#?}", f.outbox().await);
    };
    assert_eq!((entry.status.name(), entry.attempts), ("pending", 1));
    let error = entry.last_error.as_deref().unwrap();
    assert!(error.starts_with("smtp:"), "{error}");
    // Not due again before the backoff has passed.
    assert_eq!(worker.run_once().await.unwrap(), 0);
    f.clock.advance_ms(FIRST_BACKOFF_MS - 1_000);
    assert_eq!(worker.run_once().await.unwrap(), 0);

    // The second attempt fails too, and the wait doubles.
    f.clock.advance_ms(1_000);
    assert_eq!(worker.run_once().await.unwrap(), 1);
    assert_eq!(f.outbox().await[0].attempts, 2);
    assert_eq!(f.outbox().await[0].status, "pending");
    f.clock.advance_ms(FIRST_BACKOFF_MS);
    assert_eq!(
        worker.run_once().await.unwrap(),
        0,
        "second backoff is twice the first"
    );

    // The server comes up; the message goes out at its next attempt, not before.
    let smtp = SmtpServer::start_on(port).await.unwrap();
    assert_eq!(worker.run_once().await.unwrap(), 0);
    f.clock.advance_ms(FIRST_BACKOFF_MS);
    assert_eq!(worker.run_once().await.unwrap(), 1);
    let entry = &f.outbox().await[0];
    assert_eq!(entry.status, "delivered", "{entry:#?}\n{}", smtp.log());
    assert_eq!(entry.attempts, 3);
    assert_eq!(entry.last_error, None);
    assert!(entry.delivered_at.is_some());
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert_eq!(mail[0].rcpt_tos, ["ops@acme.no"]);
    assert!(
        mail[0].subject.contains("could not be synced"),
        "{}",
        mail[0].subject
    );

    // Delivered is final.
    f.clock.advance_hours(24);
    assert_eq!(f.deliver(&worker).await, 0);
    assert_eq!(smtp.messages().len(), 1);
}

async fn a_webhook_answering_500_then_200_gets_the_message_exactly_once(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let hook = WebhookReceiver::start(&[500, 200]).await;
    let (subscription, secret) = f
        .subscribe_webhook(&hook.url, &[EventKind::SyncError])
        .await;
    let run_id = failing_run(&f).await;
    let worker = f.worker(None);

    assert_eq!(worker.run_once().await.unwrap(), 1);
    let entry = &f.outbox().await[0];
    assert_eq!((entry.status.name(), entry.attempts), ("pending", 1));
    assert_eq!(
        entry.last_error.as_deref(),
        Some("webhook answered 500 Internal Server Error")
    );
    assert_eq!(worker.run_once().await.unwrap(), 0, "backoff first");
    f.clock.advance_ms(FIRST_BACKOFF_MS);
    assert_eq!(worker.run_once().await.unwrap(), 1);
    let entry = &f.outbox().await[0];
    assert_eq!((entry.status.name(), entry.attempts), ("delivered", 2));
    assert_eq!(entry.last_error, None);
    assert_eq!(entry.subscription_id, Some(subscription.id));

    f.clock.advance_hours(24);
    assert_eq!(f.deliver(&worker).await, 0);
    let requests = hook.requests();
    assert_eq!(
        requests.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 200],
        "one failed attempt, then exactly one delivery"
    );
    for request in &requests {
        assert_eq!(request.path, "/hook");
        assert!(signed_with(request, &secret), "{request:#?}");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("x-scimgate-event"), Some("sync.error"));
        assert_eq!(
            request.header("x-scimgate-delivery"),
            Some(entry.id.to_string().as_str()),
            "a retry carries the same delivery id, so a receiver can drop duplicates"
        );
    }
    assert_eq!(requests[0].body, requests[1].body);
    let body = requests[1].json();
    assert_eq!(body["event"], "sync.error");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["tenant"], "acme");
    assert_eq!(body["run_id"], run_id);
    // A tampered body or another secret does not verify.
    let mut tampered = requests[1].clone();
    tampered.body = tampered.body.replace("acme", "evil");
    assert!(!signed_with(&tampered, &secret));
    assert!(!signed_with(&requests[1], "not-the-secret"));
}

async fn a_webhook_answering_400_makes_the_message_dead_without_retrying(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let hook = WebhookReceiver::start(&[400]).await;
    let (_, secret) = f
        .subscribe_webhook(&hook.url, &[EventKind::SyncError])
        .await;
    failing_run(&f).await;
    let worker = f.worker(None);

    assert_eq!(worker.run_once().await.unwrap(), 1);
    let entry = &f.outbox().await[0];
    assert_eq!((entry.status.name(), entry.attempts), ("dead", 1));
    assert_eq!(
        entry.last_error.as_deref(),
        Some("webhook answered 400 Bad Request")
    );
    assert_eq!(entry.delivered_at, None);
    let dead = scimgate_notify::outbox::list(f.syncer.store(), f.tenant(), Some("dead"), 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);

    // Never tried again, however long we wait.
    for _ in 0..3 {
        f.clock.advance_hours(24);
        assert_eq!(worker.run_once().await.unwrap(), 0);
    }
    let requests = hook.requests();
    assert_eq!(requests.len(), 1);
    assert!(signed_with(&requests[0], &secret));
    assert_eq!(f.outbox().await[0].status, "dead");
}

on_both_backends!(a_server_that_refuses_private_targets_never_reaches_one_at_send_time);

/// Subscriptions made while private targets were allowed (or a name whose address changed
/// since) are checked again at every send: a worker that allows only public addresses
/// never reaches 127.0.0.1, whether the URL names the address or a name resolving to it.
async fn a_server_that_refuses_private_targets_never_reaches_one_at_send_time(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let hook = WebhookReceiver::start(&[200]).await;
    let by_name = hook.url.replace("127.0.0.1", "localhost");
    f.subscribe_webhook(&hook.url, &[EventKind::SyncError])
        .await;
    f.subscribe_webhook(&by_name, &[EventKind::SyncError]).await;
    failing_run(&f).await;
    let strict = scimgate_notify::deliver::Worker::new(
        f.server.db.store().await,
        f.clock.clone(),
        scimgate_notify::deliver::DeliveryConfig::default(),
        "strict".into(),
    )
    .unwrap();
    assert_eq!(strict.run_once().await.unwrap(), 2);
    let outbox = f.outbox().await;
    let literal = outbox.iter().find(|m| m.target == hook.url).unwrap();
    assert_eq!(literal.status, "dead", "{literal:?}");
    assert!(
        literal.last_error.as_deref().unwrap().contains("private"),
        "{literal:?}"
    );
    // A name is resolved at send time; with no permitted address it is not reached
    // (retried later: DNS may change back).
    let named = outbox.iter().find(|m| m.target == by_name).unwrap();
    assert_ne!(named.status, "delivered", "{named:?}");
    assert!(hook.requests().is_empty(), "a private receiver was reached");
}

on_both_backends!(two_replicas_deliver_each_message_once);

/// Two workers on two stores (two replicas) share one outbox: every message reaches the
/// receiver exactly once.
async fn two_replicas_deliver_each_message_once(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let hook = WebhookReceiver::start(&[200]).await;
    for n in 0..25 {
        f.subscribe_webhook(
            &format!("{}?subscriber={n}", hook.url),
            &[EventKind::SyncError],
        )
        .await;
    }
    failing_run(&f).await;
    assert_eq!(f.outbox().await.len(), 25);
    let other = scimgate_notify::deliver::Worker::new(
        f.server.db.store().await,
        f.clock.clone(),
        scimgate_notify::deliver::DeliveryConfig {
            targets: scimgate_notify::target::TargetPolicy::ALLOW_PRIVATE,
            ..Default::default()
        },
        "replica-b".into(),
    )
    .unwrap();
    let mine = f.worker(None);
    let (a, b) = tokio::join!(f.deliver(&mine), f.deliver(&other));
    assert_eq!(a + b, 25, "each message attempted once ({a} + {b})");
    let mut ids: Vec<String> = hook
        .requests()
        .iter()
        .map(|r| r.header("x-scimgate-delivery").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 25);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25, "no message delivered twice");
    assert!(f.outbox().await.iter().all(|m| m.status == "delivered"));
}
