//! The store API on SQLite and on PostgreSQL, through the same test bodies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scimgate_core::{Clock, SystemClock, TenantName, Timestamp};
use scimgate_store::{
    Column, Cond, Expect, IndexedDoc, Member, MemberOp, Mutation, ResourceKind, Store, StoreError,
    TokenKind, Write, MIGRATIONS,
};
use scimgate_testkit::{on_both_backends, DbBackend, TestDb};
use serde_json::json;

fn user(name: &str) -> IndexedDoc {
    IndexedDoc {
        body: json!({"userName": name}),
        user_name: Some(name.to_owned()),
        emails: vec![format!("{name}@example.com")],
        active: Some(true),
        ..IndexedDoc::default()
    }
}

fn member(id: &str) -> Member {
    Member {
        value: id.to_owned(),
        member_type: None,
        display: None,
    }
}

fn now() -> Timestamp {
    SystemClock.now()
}

async fn setup(backend: DbBackend) -> Option<(TestDb, Store, scimgate_store::Tenant)> {
    let db = TestDb::new(backend).await?;
    let store = db.store().await;
    let tenant = store
        .create_tenant(&TenantName::parse("acme").unwrap(), now())
        .await
        .unwrap();
    Some((db, store, tenant))
}

/// [`setup`] with a second tenant, globex.
async fn setup_two(
    backend: DbBackend,
) -> Option<(
    TestDb,
    Store,
    scimgate_store::Tenant,
    scimgate_store::Tenant,
)> {
    let (db, store, acme) = setup(backend).await?;
    let globex = store
        .create_tenant(&TenantName::parse("globex").unwrap(), now())
        .await
        .unwrap();
    Some((db, store, acme, globex))
}

async fn create(store: &Store, tenant: &scimgate_store::Tenant, name: &str) -> String {
    let out = store
        .write(
            tenant,
            now(),
            Write::Create {
                kind: ResourceKind::User,
                doc: user(name),
                members: vec![],
            },
        )
        .await
        .unwrap();
    out.resource.unwrap().id
}

async fn tokens_are_hashed_revocable_and_scoped(backend: DbBackend) {
    let Some((db, store, tenant)) = setup(backend).await else {
        return;
    };
    let issued = store
        .create_token_of(TokenKind::Scim, &tenant, "entra", now())
        .await
        .unwrap();
    assert_eq!(
        store
            .authenticate(&issued.secret, SystemClock.now())
            .await
            .unwrap(),
        Some(tenant.clone())
    );
    assert_eq!(
        store
            .authenticate("sgt_nope", SystemClock.now())
            .await
            .unwrap(),
        None
    );
    // The secret itself is nowhere in the database.
    let mut raw = raw_connection(&db).await;
    let hashes: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM scim_tokens")
        .fetch_all(&mut raw)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 1);
    assert!(!hashes[0].contains(&issued.secret["sgt_".len()..]));
    store
        .revoke_token_of(TokenKind::Scim, &tenant, issued.info.id, now())
        .await
        .unwrap();
    assert_eq!(
        store
            .authenticate(&issued.secret, SystemClock.now())
            .await
            .unwrap(),
        None
    );
    assert!(store.tokens(&tenant).await.unwrap()[0].revoked_at.is_some());
    assert!(matches!(
        store
            .revoke_token_of(TokenKind::Scim, &tenant, 9999, now())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .create_tenant(&TenantName::parse("acme").unwrap(), now())
            .await,
        Err(StoreError::Conflict(_))
    ));
}

/// How many resources of the tenant match `cond` exactly.
async fn matching(
    store: &Store,
    tenant: &scimgate_store::Tenant,
    kind: ResourceKind,
    cond: Cond,
) -> i64 {
    store
        .list(tenant, kind, Some(&cond), 0, 10)
        .await
        .unwrap()
        .total
}

/// A plain connection for looking at raw rows on either backend.
async fn raw_connection(db: &TestDb) -> sqlx::AnyConnection {
    use sqlx::Connection;
    let url = match db.backend {
        DbBackend::Sqlite => format!("sqlite://{}", db.url),
        DbBackend::Postgres => db.url.clone(),
    };
    sqlx::AnyConnection::connect(&url).await.unwrap()
}

async fn writes_bump_the_change_sequence_and_version(backend: DbBackend) {
    let Some((_db, store, tenant)) = setup(backend).await else {
        return;
    };
    assert_eq!(store.change_seq(&tenant).await.unwrap(), 0);
    let id = create(&store, &tenant, "alice").await;
    let out = store
        .write(
            &tenant,
            now(),
            Write::Mutate {
                kind: ResourceKind::User,
                id: id.clone(),
                mutator: Box::new(|current| {
                    assert_eq!(current.version, 1);
                    let mut doc = user("Alice2");
                    doc.body["title"] = json!("x");
                    Ok(Mutation {
                        doc,
                        members: vec![],
                    })
                }),
            },
        )
        .await
        .unwrap();
    assert_eq!(out.change_seq, 2);
    let got = out.resource.unwrap();
    assert_eq!(got.version, 2);
    assert_eq!(got.body["title"], "x");
    assert_eq!(store.change_seq(&tenant).await.unwrap(), 2);
    // Indexed columns follow the document.
    let page = matching(
        &store,
        &tenant,
        ResourceKind::User,
        Cond::Eq(Column::UserName, "ALICE2".into()),
    )
    .await;
    assert_eq!(page, 1);
    let page = matching(
        &store,
        &tenant,
        ResourceKind::User,
        Cond::Eq(Column::EmailValue, "alice2@EXAMPLE.com".into()),
    )
    .await;
    assert_eq!(page, 1);
    let old_email = matching(
        &store,
        &tenant,
        ResourceKind::User,
        Cond::Eq(Column::EmailValue, "alice@example.com".into()),
    )
    .await;
    assert_eq!(old_email, 0, "the e-mail index follows a changed e-mail");
}

async fn a_rejected_mutation_writes_nothing(backend: DbBackend) {
    let Some((_db, store, tenant)) = setup(backend).await else {
        return;
    };
    let id = create(&store, &tenant, "bob").await;
    let before = store
        .get(&tenant, ResourceKind::User, &id)
        .await
        .unwrap()
        .unwrap();
    let err = store
        .write(
            &tenant,
            now(),
            Write::Mutate {
                kind: ResourceKind::User,
                id: id.clone(),
                mutator: Box::new(|_| Err("no".into())),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)));
    assert_eq!(
        store
            .get(&tenant, ResourceKind::User, &id)
            .await
            .unwrap()
            .unwrap(),
        before
    );
    assert_eq!(
        store.change_seq(&tenant).await.unwrap(),
        1,
        "the failed write's sequence bump was rolled back"
    );
}

async fn one_failing_write_does_not_sink_its_batch(backend: DbBackend) {
    let Some((_db, store, tenant)) = setup(backend).await else {
        return;
    };
    // Fired together so the writer packs them into shared transactions.
    let writes = (0..40).map(|i| {
        let store = store.clone();
        let tenant = tenant.clone();
        let name = if i % 2 == 0 {
            "dup".to_owned()
        } else {
            format!("u{i}")
        };
        tokio::spawn(async move {
            store
                .write(
                    &tenant,
                    now(),
                    Write::Create {
                        kind: ResourceKind::User,
                        doc: user(&name),
                        members: vec![],
                    },
                )
                .await
        })
    });
    let mut ok = 0;
    let mut conflicts = 0;
    let mut seqs = Vec::new();
    for w in writes.collect::<Vec<_>>() {
        match w.await.unwrap() {
            Ok(outcome) => {
                ok += 1;
                seqs.push(outcome.change_seq);
            }
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((ok, conflicts), (21, 19));
    seqs.sort();
    assert_eq!(
        seqs,
        (1..=21).collect::<Vec<i64>>(),
        "one number per committed write, no gaps"
    );
    assert_eq!(
        store
            .list(&tenant, ResourceKind::User, None, 0, 100)
            .await
            .unwrap()
            .total,
        21
    );
    assert_eq!(
        store.change_seq(&tenant).await.unwrap(),
        21,
        "refused writes take no sequence number"
    );
}

async fn members_are_rows(backend: DbBackend) {
    let Some((_db, store, tenant)) = setup(backend).await else {
        return;
    };
    // Members must be users of the tenant: create them together (one group commit).
    let names: Vec<String> = ["a".to_owned(), "b".to_owned()]
        .into_iter()
        .chain((0..1000).map(|i| format!("m{i}")))
        .collect();
    let mut creating = tokio::task::JoinSet::new();
    for name in names {
        let (store, tenant) = (store.clone(), tenant.clone());
        creating.spawn(async move { (name.clone(), create(&store, &tenant, &name).await) });
    }
    let ids: std::collections::HashMap<String, String> =
        creating.join_all().await.into_iter().collect();
    let id = |name: &str| ids[name].clone();
    let group = IndexedDoc {
        body: json!({"displayName": "G"}),
        display_name: Some("G".into()),
        ..IndexedDoc::default()
    };
    let out = store
        .write(
            &tenant,
            now(),
            Write::Create {
                kind: ResourceKind::Group,
                doc: group.clone(),
                members: vec![member(&id("a")), member(&id("b"))],
            },
        )
        .await
        .unwrap();
    let gid = out.resource.unwrap().id;
    let many: Vec<Member> = (0..1000).map(|i| member(&id(&format!("m{i}")))).collect();
    let mutate = |ops: Vec<MemberOp>| {
        let doc = group.clone();
        Write::Mutate {
            kind: ResourceKind::Group,
            id: gid.clone(),
            mutator: Box::new(move |_| {
                Ok(Mutation {
                    doc: doc.clone(),
                    members: ops.clone(),
                })
            }),
        }
    };
    store
        .write(
            &tenant,
            now(),
            mutate(vec![
                MemberOp::Add(many),
                MemberOp::Add(vec![member(&id("a"))]),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(
        store.members(&tenant, &[gid.as_str()]).await.unwrap().len(),
        1002
    );
    store
        .write(
            &tenant,
            now(),
            mutate(vec![MemberOp::Remove(vec![id("a"), "zzz".into()])]),
        )
        .await
        .unwrap();
    assert_eq!(
        store.members(&tenant, &[gid.as_str()]).await.unwrap().len(),
        1001
    );
    assert_eq!(
        store.groups_of(&tenant, &id("b")).await.unwrap(),
        vec![gid.clone()]
    );
    let page = matching(
        &store,
        &tenant,
        ResourceKind::Group,
        Cond::Eq(Column::MemberValue, id("m999")),
    )
    .await;
    assert_eq!(page, 1);
    store
        .write(&tenant, now(), mutate(vec![MemberOp::RemoveAll]))
        .await
        .unwrap();
    assert!(store
        .members(&tenant, &[gid.as_str()])
        .await
        .unwrap()
        .is_empty());
}

async fn data_survives_reopening(backend: DbBackend) {
    let Some((db, store, tenant)) = setup(backend).await else {
        return;
    };
    let id = create(&store, &tenant, "carol").await;
    store.close().await;
    let reopened = db.store().await;
    assert!(
        reopened.migrate().await.unwrap().is_empty(),
        "nothing left to migrate"
    );
    assert!(reopened
        .get(&tenant, ResourceKind::User, &id)
        .await
        .unwrap()
        .is_some());
}

async fn sqlite_commits_are_durable(backend: DbBackend) {
    let Some((_db, store, _tenant)) = setup(backend).await else {
        return;
    };
    match backend {
        // WAL with synchronous=FULL: an acknowledged commit survives a power cut.
        DbBackend::Sqlite => assert_eq!(
            store.sqlite_durability().await.unwrap(),
            Some(("wal".to_owned(), 2))
        ),
        DbBackend::Postgres => assert_eq!(store.sqlite_durability().await.unwrap(), None),
    }
}

async fn scans_resume_after_a_position(backend: DbBackend) {
    let Some((_db, store, tenant)) = setup(backend).await else {
        return;
    };
    for i in 0..25 {
        create(&store, &tenant, &format!("s{i:02}")).await;
    }
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let chunk = store
            .scan(
                &tenant,
                ResourceKind::User,
                Some(&Cond::StartsWith(Column::UserName, "S".into())),
                after,
                10,
            )
            .await
            .unwrap();
        let Some(last) = chunk.last() else { break };
        after = last.position;
        seen.extend(
            chunk
                .into_iter()
                .map(|r| r.body["userName"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(seen[0], "s00");
    assert_eq!(seen[24], "s24");
}

/// Two stores on one database stand for two `scimgate serve` replicas: their batches mix
/// creates and PATCHes of two tenants at once, and none may fail or deadlock.
async fn two_replicas_write_side_by_side(backend: DbBackend) {
    let Some((db, first, acme)) = setup(backend).await else {
        return;
    };
    let second = db.store().await;
    let globex = first
        .create_tenant(&TenantName::parse("globex").unwrap(), now())
        .await
        .unwrap();
    let mut ids = Vec::new();
    for tenant in [&acme, &globex] {
        for i in 0..4 {
            ids.push((
                tenant.clone(),
                create(&first, tenant, &format!("seed{i}")).await,
            ));
        }
    }
    // Each replica creates users in one tenant and PATCHes users of the other, so their
    // batches want the two tenants' rows in opposite orders unless the store orders them.
    let mut writes = Vec::new();
    for round in 0..40 {
        for (n, store) in [&first, &second].into_iter().enumerate() {
            let (creates_in, patches_in) = if n == 0 {
                (&acme, &globex)
            } else {
                (&globex, &acme)
            };
            for k in 0..2 {
                let (store, tenant) = (store.clone(), creates_in.clone());
                let name = format!("r{round}-s{n}-{k}");
                writes.push(tokio::spawn(async move {
                    store
                        .write(
                            &tenant,
                            now(),
                            Write::Create {
                                kind: ResourceKind::User,
                                doc: user(&name),
                                members: vec![],
                            },
                        )
                        .await
                }));
            }
            for (tenant, id) in ids.iter().filter(|(t, _)| t.id == patches_in.id) {
                let (store, tenant, id) = (store.clone(), tenant.clone(), id.clone());
                writes.push(tokio::spawn(async move {
                    let write = Write::Mutate {
                        kind: ResourceKind::User,
                        id,
                        mutator: Box::new(move |current| {
                            let mut doc = user(current.body["userName"].as_str().unwrap_or("x"));
                            doc.body["title"] = json!(format!("round {round}"));
                            Ok(Mutation {
                                doc,
                                members: vec![],
                            })
                        }),
                    };
                    store.write(&tenant, now(), write).await
                }));
            }
        }
    }
    let total = writes.len();
    for w in writes {
        if let Err(e) = w.await.unwrap() {
            panic!("a write of two replicas failed: {e}");
        }
    }
    // 40 rounds × 2 replicas × 2 tenants new users, plus the 4 seeds of each tenant.
    for tenant in [&acme, &globex] {
        assert_eq!(
            first
                .list(tenant, ResourceKind::User, None, 0, 1)
                .await
                .unwrap()
                .total,
            4 + 80
        );
    }
    let seqs = first.change_seq(&acme).await.unwrap() + first.change_seq(&globex).await.unwrap();
    assert_eq!(
        seqs as usize,
        total + 8,
        "every committed write took exactly one number"
    );
}

/// What one database would refuse is refused by both, before either sees it.
async fn unstorable_values_are_refused_alike(backend: DbBackend) {
    let Some((_db, store, tenant)) = setup(backend).await else {
        return;
    };
    let with_body = |mut doc: IndexedDoc, key: &str, value: &str| {
        doc.body[key] = json!(value);
        doc
    };
    for (what, doc) in [
        ("NUL in userName", user("a\0b")),
        ("1 MB userName", user(&"x".repeat(1 << 20))),
        ("4 KB userName", user(&"x".repeat(4096))),
        ("NUL in the body", with_body(user("ok"), "title", "t\0")),
        (
            "65 KiB in the body",
            with_body(user("ok"), "title", &"t".repeat(65 * 1024 + 1)),
        ),
    ] {
        let refused = store
            .write(
                &tenant,
                now(),
                Write::Create {
                    kind: ResourceKind::User,
                    doc,
                    members: vec![],
                },
            )
            .await;
        assert!(
            matches!(refused, Err(StoreError::Unstorable(_))),
            "{what}: {refused:?}"
        );
    }
    assert_eq!(
        store.change_seq(&tenant).await.unwrap(),
        0,
        "nothing written"
    );
}

/// Should a value the checks let through still be refused by the database (PostgreSQL
/// refuses NUL in text; SQLite stores it), the batch it shares is retried in parts: every
/// other write of the batch, of this tenant or another, commits, and only the culprit fails,
/// as the client's mistake, not as an outage.
async fn a_write_the_database_refuses_fails_alone(backend: DbBackend) {
    let Some((_db, store, tenant)) = setup(backend).await else {
        return;
    };
    let other = store
        .create_tenant(&TenantName::parse("globex").unwrap(), SystemClock.now())
        .await
        .unwrap();
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..93 {
        let store = store.clone();
        let tenant = if i % 2 == 0 {
            tenant.clone()
        } else {
            other.clone()
        };
        writes.spawn(async move {
            let bad = i % 31 == 0;
            let name = if bad {
                format!("bad\0{i}")
            } else {
                format!("u{i}")
            };
            let write = Write::Create {
                kind: ResourceKind::User,
                doc: user(&name),
                members: vec![],
            };
            let result = if bad {
                store.write_unchecked(&tenant, now(), write).await
            } else {
                store.write(&tenant, now(), write).await
            };
            (bad, result)
        });
    }
    let results = writes.join_all().await;
    let mut stored = 0;
    for (bad, result) in results {
        match (bad, result) {
            (false, Ok(_)) => stored += 1,
            (false, Err(e)) => panic!("a valid write failed: {e}"),
            (true, Err(e)) => assert!(
                matches!(e, StoreError::Unstorable(_)),
                "the culprit's failure is its value, not an outage: {e:?}"
            ),
            // SQLite stores NUL: there is nothing to refuse.
            (true, Ok(_)) => assert_eq!(backend, DbBackend::Sqlite),
        }
    }
    assert_eq!(stored, 90);
    let total = |t: scimgate_store::Tenant| {
        let store = store.clone();
        async move {
            store
                .list(&t, ResourceKind::User, None, 0, 200)
                .await
                .unwrap()
                .total
        }
    };
    let expected_bad = if backend == DbBackend::Sqlite { 3 } else { 0 };
    assert_eq!(total(tenant).await + total(other).await, 90 + expected_bad);
}

/// Members are checked against what exists when the write runs, also when a batch both
/// deletes users and adds them to a group: no group is left with a member that is gone.
async fn members_deleted_in_the_same_batch_never_dangle(backend: DbBackend) {
    let Some((_db, store, tenant)) = setup(backend).await else {
        return;
    };
    let mut users = Vec::new();
    for i in 0..30 {
        users.push(create(&store, &tenant, &format!("d{i}")).await);
    }
    let group = store
        .write(
            &tenant,
            now(),
            Write::Create {
                kind: ResourceKind::Group,
                doc: IndexedDoc {
                    body: json!({"displayName": "G"}),
                    display_name: Some("G".into()),
                    ..IndexedDoc::default()
                },
                members: vec![],
            },
        )
        .await
        .unwrap()
        .resource
        .unwrap()
        .id;
    let mut writes = tokio::task::JoinSet::new();
    for (i, user) in users.iter().enumerate() {
        let add = Write::Mutate {
            kind: ResourceKind::Group,
            id: group.clone(),
            mutator: {
                let user = user.clone();
                Box::new(move |_| {
                    Ok(Mutation {
                        doc: IndexedDoc {
                            body: json!({"displayName": "G"}),
                            display_name: Some("G".into()),
                            ..IndexedDoc::default()
                        },
                        members: vec![MemberOp::Add(vec![member(&user)])],
                    })
                })
            },
        };
        let delete = Write::Delete {
            kind: ResourceKind::User,
            id: user.clone(),
            if_match: None,
        };
        // Half the users are deleted before their add is queued, half after.
        let order = if i % 2 == 0 {
            [delete, add]
        } else {
            [add, delete]
        };
        for write in order {
            let (store, tenant) = (store.clone(), tenant.clone());
            writes.spawn(async move { store.write(&tenant, now(), write).await.is_ok() });
        }
    }
    writes.join_all().await;
    assert!(
        store
            .members(&tenant, &[group.as_str()])
            .await
            .unwrap()
            .is_empty(),
        "every member added was deleted: none may remain"
    );
}

on_both_backends!(
    members_deleted_in_the_same_batch_never_dangle,
    unstorable_values_are_refused_alike,
    a_write_the_database_refuses_fails_alone,
    tokens_are_hashed_revocable_and_scoped,
    writes_bump_the_change_sequence_and_version,
    a_rejected_mutation_writes_nothing,
    one_failing_write_does_not_sink_its_batch,
    members_are_rows,
    data_survives_reopening,
    scans_resume_after_a_position,
    sqlite_commits_are_durable,
    two_replicas_write_side_by_side,
);

#[test]
fn migration_folders_carry_the_same_versions() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let names = |dir: &str| {
        let mut v: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    let sqlite = names("sqlite");
    assert_eq!(
        sqlite,
        names("postgres"),
        "migrations/sqlite and migrations/postgres differ"
    );
    let embedded: Vec<String> = MIGRATIONS.iter().map(|m| m.name.to_owned()).collect();
    assert_eq!(
        sqlite, embedded,
        "every migration file must be listed in crates/store/src/migrate.rs"
    );
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert_eq!(m.version, i as i64 + 1);
        assert!(m.name.starts_with(&format!("{:04}_", m.version)));
    }
}

/// The holding area read for planning: chunked, in arrival order, with groups and
/// memberships; on SQLite the direct bulk reader (multi-threaded runtime) and the pool
/// (single-threaded runtime) must see the same thing.
async fn holding_area_scan(store: &Store, tenant: &scimgate_store::Tenant) -> Vec<String> {
    let mut seen = Vec::new();
    let mut chunks = Vec::new();
    let holding = store
        .scan_holding_area(tenant, 3, |holding, users| {
            assert_eq!(holding.groups.len(), 1);
            chunks.push(users.len());
            for u in users {
                let groups: Vec<&str> = holding.groups_of(&u.id).map(|g| g.id.as_str()).collect();
                seen.push(format!(
                    "{} {} groups={}",
                    u.body["userName"].as_str().unwrap(),
                    u.created_at.len(),
                    groups.len()
                ));
            }
        })
        .await
        .unwrap();
    assert_eq!(chunks, vec![3, 3, 1], "chunks of 3, the rest last");
    assert_eq!(holding.of_member.values().map(Vec::len).sum::<usize>(), 2);
    assert_eq!(holding.groups[0].display_name, "Sales");
    assert!(holding.change_seq >= 8);
    seen
}

async fn seed_holding_area(store: &Store, tenant: &scimgate_store::Tenant) {
    let mut ids = Vec::new();
    for n in 0..7 {
        ids.push(create(store, tenant, &format!("u{n}")).await);
    }
    store
        .write(
            tenant,
            now(),
            Write::Create {
                kind: ResourceKind::Group,
                doc: IndexedDoc {
                    body: json!({"displayName": "Sales"}),
                    display_name: Some("Sales".into()),
                    ..IndexedDoc::default()
                },
                members: vec![member(&ids[1]), member(&ids[5])],
            },
        )
        .await
        .unwrap();
}

async fn the_holding_area_scans_in_chunks(backend: DbBackend) {
    let Some((db, store, tenant)) = setup(backend).await else {
        return;
    };
    seed_holding_area(&store, &tenant).await;
    let multi = holding_area_scan(&store, &tenant).await;
    assert_eq!(multi[0], "u0 24 groups=0");
    assert_eq!(multi[1], "u1 24 groups=1");
    assert_eq!(multi.len(), 7);
    // The same database through a single-threaded runtime (the pool's path on SQLite).
    let url = db.url.clone();
    let single = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let store = Store::open(&url).await.unwrap();
                let tenant = store
                    .tenant(&TenantName::parse("acme").unwrap())
                    .await
                    .unwrap()
                    .unwrap();
                holding_area_scan(&store, &tenant).await
            })
    })
    .join()
    .unwrap();
    assert_eq!(multi, single);
}

on_both_backends!(the_holding_area_scans_in_chunks);

/// The user search index is brought up to date in batches, after writes that only noted
/// which users changed: every user is found, a renamed one by its new name only, a deleted
/// one not at all, and an up-to-date index has nothing to do.
async fn the_user_search_index_catches_up_in_batches(backend: DbBackend) {
    let Some((_db, store, tenant)) = setup(backend).await else {
        return;
    };
    let mut creating = tokio::task::JoinSet::new();
    for i in 0..4_500 {
        let (store, tenant) = (store.clone(), tenant.clone());
        creating
            .spawn(async move { (i, create(&store, &tenant, &format!("searched{i:05}")).await) });
    }
    // In the order they were asked for, not the order they finished.
    let mut ids = creating.join_all().await;
    ids.sort();
    let ids: Vec<String> = ids.into_iter().map(|(_, id)| id).collect();
    let expected = match backend {
        // In batches of 500; PostgreSQL's index is kept by the writes themselves.
        DbBackend::Sqlite => 4_500,
        DbBackend::Postgres => 0,
    };
    let refresh = || store.refresh_user_search(std::time::Duration::ZERO);
    assert_eq!(refresh().await.unwrap(), expected);
    assert_eq!(refresh().await.unwrap(), 0);
    let find = |text: &'static str| {
        let store = store.clone();
        let tenant = tenant.clone();
        async move {
            let search = scimgate_store::UserSearch {
                text: Some(text),
                limit: 50,
                ..Default::default()
            };
            store
                .search_staged_users(&tenant, &search)
                .await
                .unwrap()
                .total
        }
    };
    assert_eq!(find("searched0421").await, 10);
    assert_eq!(find("SEARCHED04217@EXAMPLE").await, 1);
    let renamed = store
        .write(
            &tenant,
            now(),
            Write::Mutate {
                kind: ResourceKind::User,
                id: ids[4217].clone(),
                mutator: Box::new(|_| {
                    Ok(Mutation {
                        doc: user("renamed-person"),
                        members: vec![],
                    })
                }),
            },
        )
        .await;
    assert!(renamed.is_ok(), "{renamed:?}");
    assert_eq!(find("searched04217").await, 0, "the old name is gone");
    assert_eq!(find("renamed-person").await, 1);
    let deleted = store
        .write(
            &tenant,
            now(),
            Write::Delete {
                kind: ResourceKind::User,
                id: ids[4218].clone(),
                if_match: None,
            },
        )
        .await;
    assert!(deleted.is_ok(), "{deleted:?}");
    assert_eq!(find("searched0421").await, 8);
}

on_both_backends!(the_user_search_index_catches_up_in_batches);

fn fields(username: &str, plan: Option<&str>, active: bool) -> scimgate_core::AccountFields {
    scimgate_core::AccountFields {
        username: username.into(),
        display_name: Some(format!("{username} display").into()),
        email: None,
        user_plan: plan.map(Into::into),
        owner_company: Some("Acme".into()),
        primary_group: None,
        secondary_groups: vec!["Sales".into(), "Sup\0port".into()],
        role: None,
        confidential: true,
        active,
    }
}

/// Account changes go many to a statement: the outcome must still be that of applying
/// them one by one, in order, all or nothing.
async fn account_changes_apply_in_order_all_or_nothing(backend: DbBackend) {
    use scimgate_core::Change;
    let Some((_db, store, tenant)) = setup(backend).await else {
        return;
    };
    // More creates than one statement takes, one of them with NUL characters.
    let mut changes: Vec<Change> = (0..2_500)
        .map(|n| Change::Create {
            staged_user_id: format!("u{n}"),
            external_id: Some(format!("x{n}")),
            fields: fields(&format!("user{n}"), Some("Sales"), true),
        })
        .collect();
    changes.push(Change::Create {
        staged_user_id: "nul-user".into(),
        external_id: None,
        fields: fields("nul\0name", Some("Sales"), true),
    });
    let pks = store
        .apply_account_changes(&tenant, &changes, "2026-01-01T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(pks.len(), changes.len());
    let accounts = store.accounts(&tenant).await.unwrap();
    assert_eq!(accounts.len(), 2_501);
    let by_pk: std::collections::HashMap<i64, &scimgate_core::CrmAccount> =
        accounts.iter().map(|a| (a.pk, a)).collect();
    for (n, pk) in pks.iter().take(2_500).enumerate() {
        let account = by_pk[pk];
        assert_eq!(
            account.staged_user_id.as_deref(),
            Some(format!("u{n}").as_str())
        );
        assert_eq!(*account.fields.username, format!("user{n}"));
        assert_eq!(
            account.fields.secondary_groups,
            ["Sales".into(), "Support".into()]
        );
        assert!(account.fields.confidential);
    }
    assert_eq!(&*by_pk[&pks[2_500]].fields.username, "nulname");
    assert_eq!(
        store.seats_in_use(&tenant).await.unwrap(),
        vec![("Sales".to_owned(), 2_501)]
    );

    // In one call: a create for a user that has an account (a resumed run) updates it;
    // the same user created twice keeps the later; an update moves u1 to another plan
    // and relinks it; a deactivation, repeated, is done once.
    let changes = vec![
        Change::Deactivate { pk: pks[2] },
        Change::Deactivate { pk: pks[2] },
        Change::Update {
            pk: pks[1],
            staged_user_id: "u1-again".into(),
            external_id: None,
            fields: fields("renamed1", Some("Support"), true),
        },
        Change::Create {
            staged_user_id: "u0".into(),
            external_id: Some("x0".into()),
            fields: fields("first", Some("Sales"), true),
        },
        Change::Create {
            staged_user_id: "u0".into(),
            external_id: Some("x0".into()),
            fields: fields("second", Some("Sales"), false),
        },
    ];
    let again = store
        .apply_account_changes(&tenant, &changes, "2026-01-02T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(again, vec![pks[2], pks[2], pks[1], pks[0], pks[0]]);
    let account = |pk: i64| {
        let store = store.clone();
        let tenant = tenant.clone();
        async move { store.account(&tenant, pk).await.unwrap().unwrap() }
    };
    let u0 = account(pks[0]).await;
    assert_eq!((&*u0.fields.username, u0.fields.active), ("second", false));
    let u1 = account(pks[1]).await;
    assert_eq!(u1.staged_user_id.as_deref(), Some("u1-again"));
    assert_eq!(u1.fields.user_plan.as_deref(), Some("Support"));
    let u2 = account(pks[2]).await;
    assert!(!u2.fields.active);
    assert_eq!(u2.deactivated_at.as_deref(), Some("2026-01-02T00:00:00Z"));
    assert_eq!(
        store.seats_in_use(&tenant).await.unwrap(),
        vec![("Sales".to_owned(), 2_497), ("Support".to_owned(), 1)]
    );

    // An update of an account the tenant does not have fails the call, and the changes
    // before it in the same call are not kept.
    let failed = store
        .apply_account_changes(
            &tenant,
            &[
                Change::Deactivate { pk: pks[3] },
                Change::Update {
                    pk: i64::MAX,
                    staged_user_id: "ghost".into(),
                    external_id: None,
                    fields: fields("ghost", None, true),
                },
            ],
            "2026-01-03T00:00:00Z",
        )
        .await;
    assert!(matches!(failed, Err(StoreError::NotFound)), "{failed:?}");
    assert!(account(pks[3]).await.fields.active);
    assert_eq!(store.accounts(&tenant).await.unwrap().len(), 2_501);

    // A plan name with a NUL is stored and counted without it, so the seat it takes is
    // the one freed later.
    let nul = store
        .apply_account_changes(
            &tenant,
            &[Change::Create {
                staged_user_id: "nul-plan".into(),
                external_id: None,
                fields: fields("nul-plan", Some("Sup\0port"), true),
            }],
            "2026-01-04T00:00:00Z",
        )
        .await
        .unwrap();
    let support = |n: i64| vec![("Sales".to_owned(), 2_497), ("Support".to_owned(), n)];
    assert_eq!(store.seats_in_use(&tenant).await.unwrap(), support(2));
    store
        .apply_account_changes(
            &tenant,
            &[Change::Deactivate { pk: nul[0] }],
            "2026-01-05T00:00:00Z",
        )
        .await
        .unwrap();
    assert_eq!(store.seats_in_use(&tenant).await.unwrap(), support(1));
}

on_both_backends!(account_changes_apply_in_order_all_or_nothing);

/// PATCHes fired together share a batch, whose updates are written together at its end:
/// each write must still see the one before it (versions one apart, none repeated), a
/// rename must see the batch's other renames, and the indexes must follow the last state.
async fn patches_in_one_batch_see_each_other(backend: DbBackend) {
    let Some((_db, store, tenant)) = setup(backend).await else {
        return;
    };
    let ids = [
        create(&store, &tenant, "ann").await,
        create(&store, &tenant, "bob").await,
        create(&store, &tenant, "cid").await,
    ];
    let patch = |id: String, doc: IndexedDoc| {
        let (store, tenant) = (store.clone(), tenant.clone());
        tokio::spawn(async move {
            let write = Write::Mutate {
                kind: ResourceKind::User,
                id: id.clone(),
                mutator: Box::new(move |_| {
                    Ok(Mutation {
                        doc: doc.clone(),
                        members: vec![],
                    })
                }),
            };
            (id, store.write(&tenant, now(), write).await)
        })
    };
    let mut tasks = Vec::new();
    for n in 0..30 {
        let who = ["ann", "bob", "cid"][n % 3];
        let mut doc = user(who);
        doc.display_name = Some(format!("{who} {n}"));
        doc.body["displayName"] = json!(format!("{who} {n}"));
        tasks.push(patch(ids[n % 3].clone(), doc));
    }
    // Ann takes a new name and Bob takes Ann's old one: the order decides who ends with
    // which name (a display-name PATCH above also sets its user's name), never a
    // duplicate, a lost write or a failed batch.
    tasks.push(patch(ids[0].clone(), user("ann-renamed")));
    tasks.push(patch(ids[1].clone(), user("ann")));
    let mut versions: std::collections::HashMap<String, Vec<i64>> = Default::default();
    for task in tasks {
        let (id, result) = task.await.unwrap();
        match result {
            Ok(outcome) => versions
                .entry(id)
                .or_default()
                .push(outcome.resource.unwrap().version),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    for id in &ids {
        let mut seen = versions.remove(id).unwrap_or_default();
        seen.sort();
        let stored = store
            .get(&tenant, ResourceKind::User, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen, (2..=stored.version).collect::<Vec<i64>>(), "{id}");
        // The userName index follows the last state.
        let name = stored.body["userName"].as_str().unwrap().to_owned();
        let found = matching(
            &store,
            &tenant,
            ResourceKind::User,
            Cond::Eq(Column::UserName, name.clone()),
        )
        .await;
        assert_eq!(found, 1, "{name}");
    }
    // The e-mail index follows a PATCH batched with others of the same user.
    let mut renamed = Vec::new();
    for n in 0..5 {
        let mut cid = user("cid");
        cid.display_name = Some(format!("cid again {n}"));
        cid.emails = vec!["cid@new.example".into()];
        renamed.push(patch(ids[2].clone(), cid));
    }
    for task in renamed {
        assert!(task.await.unwrap().1.is_ok());
    }
    let by_email = |email: &'static str| {
        let (store, tenant) = (store.clone(), tenant.clone());
        async move {
            matching(
                &store,
                &tenant,
                ResourceKind::User,
                Cond::Eq(Column::EmailValue, email.into()),
            )
            .await
        }
    };
    assert_eq!(by_email("cid@new.example").await, 1);
    assert_eq!(by_email("cid@example.com").await, 0);
}

on_both_backends!(patches_in_one_batch_see_each_other);

/// A write naming another tenant's resource finds nothing, also when that tenant writes
/// the same resource in the same batch: it is refused alone (404), and the owner's writes
/// go through.
async fn another_tenants_id_in_the_same_batch_is_not_found(backend: DbBackend) {
    let Some((_db, store, acme, globex)) = setup_two(backend).await else {
        return;
    };
    let theirs = create(&store, &globex, "gina").await;
    let patch = |tenant: scimgate_store::Tenant, n: usize| {
        let (store, id) = (store.clone(), theirs.clone());
        tokio::spawn(async move {
            let mut doc = user("gina");
            doc.display_name = Some(format!("Gina {n}"));
            let write = Write::Mutate {
                kind: ResourceKind::User,
                id,
                mutator: Box::new(move |_| {
                    Ok(Mutation {
                        doc: doc.clone(),
                        members: vec![],
                    })
                }),
            };
            store.write(&tenant, now(), write).await
        })
    };
    let mut tasks = Vec::new();
    for n in 0..20 {
        let tenant = if n % 4 == 1 { &acme } else { &globex };
        tasks.push((n % 4 == 1, patch(tenant.clone(), n)));
    }
    for (from_acme, task) in tasks {
        let result = task.await.unwrap();
        if from_acme {
            assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
        } else {
            assert!(result.is_ok(), "{result:?}");
        }
    }
    let gina = store
        .get(&globex, ResourceKind::User, &theirs)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        gina.version, 16,
        "15 PATCHes of globex's own on top of version 1"
    );
}

on_both_backends!(another_tenants_id_in_the_same_batch_is_not_found);

/// The Entra matching query and reads by id (on SQLite read on the calling thread, not
/// through the pool): case-insensitive userName, pages past the only match, another
/// tenant's users unseen, and a write seen by the very next read.
async fn point_lookups_answer_like_listings(backend: DbBackend) {
    let Some((_db, store, acme, globex)) = setup_two(backend).await else {
        return;
    };
    let ann = create(&store, &acme, "Ann.Lee").await;
    create(&store, &acme, "bob").await;
    let gina = create(&store, &globex, "gina").await;
    let by_name = |name: &str| Cond::Eq(Column::UserName, name.to_owned());
    let page = store
        .list(&acme, ResourceKind::User, Some(&by_name("ann.LEE")), 0, 10)
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.resources[0].id, ann);
    assert_eq!(page.resources[0].body["userName"], "Ann.Lee");
    // Past the only match: an empty page that still counts it.
    let past = store
        .list(&acme, ResourceKind::User, Some(&by_name("ann.lee")), 1, 10)
        .await
        .unwrap();
    assert_eq!((past.total, past.resources.len()), (1, 0));
    // Another tenant's user, by name or by id: not there.
    assert_eq!(
        matching(&store, &acme, ResourceKind::User, by_name("gina")).await,
        0
    );
    let by_id = Cond::Eq(Column::Id, gina.clone());
    assert_eq!(matching(&store, &acme, ResourceKind::User, by_id).await, 0);
    assert!(store
        .get(&acme, ResourceKind::User, &gina)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .get(&globex, ResourceKind::User, &gina)
        .await
        .unwrap()
        .is_some());
    // A write is seen by the next read, on every connection.
    for n in 0..20 {
        let name = format!("new{n}");
        let id = create(&store, &acme, &name).await;
        let found = store
            .list(&acme, ResourceKind::User, Some(&by_name(&name)), 0, 1)
            .await
            .unwrap();
        assert_eq!(
            found.resources.first().map(|r| r.id.as_str()),
            Some(id.as_str())
        );
        let got = store
            .get(&acme, ResourceKind::User, &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.version, 1);
    }
}

on_both_backends!(point_lookups_answer_like_listings);

/// A tenant with a CRM target gets a push queued with every account change, in the same
/// transaction; one account's pushes are claimed one at a time, in order, and a dead one
/// holds the rest of its account until retried. Another tenant's accounts are untouched.
async fn crm_pushes_queue_with_the_change_and_go_in_order(backend: DbBackend) {
    use scimgate_core::Change;
    use scimgate_store::crm_push::{CrmTargetRow, PushAttempt, PushCounts, TargetKind};
    let Some((_db, store, acme, globex)) = setup_two(backend).await else {
        return;
    };
    let at = "2026-01-01T00:00:00.000Z";
    let t0 = Timestamp::parse_rfc3339(at).unwrap().unix_millis();
    let create = |n: usize| Change::Create {
        staged_user_id: format!("u{n}"),
        external_id: Some(format!("x{n}")),
        fields: fields(&format!("user{n}"), Some("Sales"), true),
    };
    // No target yet: nothing is queued.
    let first = store
        .apply_account_changes(&acme, &[create(0)], at)
        .await
        .unwrap();
    assert_eq!(
        store.push_counts(&acme).await.unwrap(),
        PushCounts::default()
    );

    let target = CrmTargetRow {
        kind: TargetKind::Scim,
        url: "http://127.0.0.1:9/scim/v2".into(),
        sealed_secret: "sealed".into(),
        delete_on_deprovision: false,
        mapping: None,
        oauth2: None,
        reconcile_hours: None,
        updated_at: at.into(),
    };
    let saved = (store
        .set_crm_target(&acme, &target, true, Expect::Version(0))
        .await)
        .unwrap();
    assert_eq!((saved.version, saved.queued), (1, 1));
    // A second admin's edit based on the same (now old) version is refused.
    let stale = store.set_crm_target(&acme, &target, false, Expect::Version(0));
    assert!(matches!(stale.await, Err(StoreError::Stale(_))));
    assert_eq!(store.crm_target(&acme).await.unwrap(), Some(target.clone()));
    assert_eq!(store.crm_target(&globex).await.unwrap(), None);
    let pks = store
        .apply_account_changes(&acme, &[create(1), create(2)], at)
        .await
        .unwrap();
    let update = Change::Update {
        pk: pks[0],
        staged_user_id: "u1".into(),
        external_id: Some("x1".into()),
        fields: fields("user1-renamed", Some("Sales"), true),
    };
    store
        .apply_account_changes(&acme, &[update], at)
        .await
        .unwrap();
    store
        .apply_account_changes(&globex, &[create(9)], at)
        .await
        .unwrap();
    assert_eq!(store.push_counts(&acme).await.unwrap().pending, 4);
    assert_eq!(
        store.push_counts(&globex).await.unwrap(),
        PushCounts::default()
    );

    // One push per account: user1's update waits behind its create.
    let claimed = store.claim_pushes("w1", t0, 60_000, 10).await.unwrap();
    let accounts: Vec<i64> = claimed.iter().map(|p| p.account_pk).collect();
    assert_eq!(accounts, vec![first[0], pks[0], pks[1]]);
    assert!(claimed.iter().all(|p| p.tenant_id == acme.id));
    assert!(
        store
            .claim_pushes("w2", t0, 60_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );

    // A retry is due later, and holds the update behind it until then.
    let user1 = &claimed[1];
    let retry = PushAttempt::Failed {
        error: "503",
        retry_at_ms: Some(t0 + 1_000),
    };
    assert!(store.settle_push(user1.id, "w1", retry).await.unwrap());
    assert!(
        !store.settle_push(user1.id, "w1", retry).await.unwrap(),
        "lease gone"
    );
    assert!(store
        .claim_pushes("w2", t0, 60_000, 10)
        .await
        .unwrap()
        .is_empty());
    let again = store
        .claim_pushes("w2", t0 + 1_000, 60_000, 10)
        .await
        .unwrap();
    assert_eq!(
        (again.len(), again[0].id, again[0].attempts),
        (1, user1.id, 1)
    );
    let done = PushAttempt::Delivered { at };
    assert!(store.settle_push(user1.id, "w2", done).await.unwrap());
    let next = store
        .claim_pushes("w2", t0 + 1_000, 60_000, 10)
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert!(next[0].id > user1.id && next[0].account_pk == pks[0]);
    assert!(store.settle_push(next[0].id, "w2", done).await.unwrap());

    // A dead push holds its account's later ones until an admin retries it.
    let user2 = &claimed[2];
    let dead = PushAttempt::Failed {
        error: "400 invalid",
        retry_at_ms: None,
    };
    assert!(store.settle_push(user2.id, "w1", dead).await.unwrap());
    let update = Change::Update {
        pk: pks[1],
        staged_user_id: "u2".into(),
        external_id: Some("x2".into()),
        fields: fields("user2", None, false),
    };
    store
        .apply_account_changes(&acme, &[update], at)
        .await
        .unwrap();
    assert!(store
        .claim_pushes("w3", t0 + 10_000, 60_000, 10)
        .await
        .unwrap()
        .is_empty());
    let counts = store.push_counts(&acme).await.unwrap();
    assert_eq!((counts.pending, counts.delivered, counts.dead), (2, 2, 1));
    let dead = store.dead_pushes(&acme, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].id, dead[0].account_pk), (user2.id, pks[1]));
    assert_eq!(dead[0].username.as_deref(), Some("user2"));
    assert_eq!(
        (dead[0].attempts, dead[0].last_error.as_str()),
        (1, "400 invalid")
    );
    assert!(store.dead_pushes(&globex, 10).await.unwrap().is_empty());
    assert_eq!(store.retry_dead_pushes(&globex, t0).await.unwrap(), 0);
    assert_eq!(store.retry_dead_pushes(&acme, t0).await.unwrap(), 1);
    let retried = store
        .claim_pushes("w3", t0 + 10_000, 60_000, 10)
        .await
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].id, user2.id);
    assert_eq!(
        retried[0].attempts, 0,
        "a retried push gets all its attempts again"
    );

    // The target's id for an account, per tenant.
    store
        .link_account_to_target(&acme, pks[0], "remote-1")
        .await
        .unwrap();
    assert_eq!(
        store
            .account_target_id(&acme, pks[0])
            .await
            .unwrap()
            .as_deref(),
        Some("remote-1")
    );
    assert_eq!(
        store.account_target_id(&globex, pks[0]).await.unwrap(),
        None
    );

    // The same target again keeps the link; another one (or none) drops it.
    (store
        .set_crm_target(&acme, &target, false, Expect::Any)
        .await)
        .unwrap();
    assert!(store
        .account_target_id(&acme, pks[0])
        .await
        .unwrap()
        .is_some());
    let elsewhere = CrmTargetRow {
        url: "http://127.0.0.1:9/other".into(),
        ..target.clone()
    };
    store
        .set_crm_target(&acme, &elsewhere, false, Expect::Any)
        .await
        .unwrap();
    assert_eq!(store.account_target_id(&acme, pks[0]).await.unwrap(), None);
    store
        .link_account_to_target(&acme, pks[0], "remote-2")
        .await
        .unwrap();

    // Dropping the target drops its queue and the links; accounts stay.
    assert_eq!(
        store
            .clear_crm_target(&acme, Expect::Any, at)
            .await
            .unwrap(),
        4
    );
    assert_eq!(store.account_target_id(&acme, pks[0]).await.unwrap(), None);
    assert!(matches!(
        store.clear_crm_target(&acme, Expect::Any, at).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.push_counts(&acme).await.unwrap(),
        PushCounts::default()
    );
    assert_eq!(store.accounts(&acme).await.unwrap().len(), 3);
}

on_both_backends!(crm_pushes_queue_with_the_change_and_go_in_order);
