//! Group commit: one task per process owns all writes. It takes every write that is
//! waiting, runs them in one transaction (each behind its own savepoint, so one bad
//! write fails alone), commits once, and only then answers. With `synchronous=FULL`
//! (SQLite) or a default PostgreSQL, that one commit is one fsync for the whole batch,
//! and every 2xx the SCIM layer sends is backed by a durable commit.

use crate::query::Bind;
use crate::resources::resource_from_row;
use crate::tenants::begin_sql;
use crate::{
    Backend, Current, IndexedDoc, Member, MemberOp, Mutation, ResourceKind, Result, StoreError,
    StoredResource, Tenant, Write, WriteOutcome,
};
use scimgate_core::Timestamp;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor, Row};
use tokio::sync::{mpsc, oneshot};

/// Most writes one transaction carries; bounds the time any one request waits.
const MAX_BATCH: usize = 512;

pub(crate) struct Job {
    tenant: Tenant,
    now: Timestamp,
    write: Write,
    reply: oneshot::Sender<Result<WriteOutcome>>,
}

pub(crate) fn spawn(pool: AnyPool, backend: Backend) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
    tokio::spawn(run(pool, backend, rx));
    tx
}

impl crate::Store {
    /// Applies one write durably; returns once it is committed (or refused).
    pub async fn write(
        &self,
        tenant: &Tenant,
        now: Timestamp,
        write: Write,
    ) -> Result<WriteOutcome> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Job {
                tenant: tenant.clone(),
                now,
                write,
                reply,
            })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

async fn run(pool: AnyPool, backend: Backend, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // One lock order for every batch (tenant rows first, by id) so that two replicas
        // writing on one PostgreSQL cannot deadlock each other.
        batch.sort_by_key(|job: &Job| job.tenant.id);
        let jobs = std::mem::take(&mut batch);
        commit_batch(&pool, backend, jobs).await;
    }
}

async fn commit_batch(pool: &AnyPool, backend: Backend, jobs: Vec<Job>) {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(err) => return fail_all(jobs, &err),
    };
    if let Err(err) = conn.execute(begin_sql(backend)).await {
        return fail_all(jobs, &err);
    }
    let mut sequences = Sequences::default();
    let mut answered = Vec::with_capacity(jobs.len());
    // New users go in first, many rows per statement: a batch of creates costs a few
    // statements, not a few per request.
    let (creates, others): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|job| {
        matches!(
            job.write,
            Write::Create {
                kind: ResourceKind::User,
                ..
            }
        )
    });
    let mut creates = creates.into_iter().peekable();
    while let Some(first) = creates.next() {
        let mut chunk = vec![first];
        while chunk.len() < USERS_PER_INSERT
            && creates
                .peek()
                .is_some_and(|j| j.tenant.id == chunk[0].tenant.id)
        {
            chunk.extend(creates.next());
        }
        match create_users(&mut conn, backend, &mut sequences, chunk).await {
            Ok(results) => answered.extend(results),
            Err((err, replies)) => {
                let pending = replies
                    .into_iter()
                    .chain(creates.map(|j| j.reply))
                    .chain(others.into_iter().map(|j| j.reply));
                return abort(conn, err, answered, pending).await;
            }
        }
    }
    let mut prefetched = Prefetched::default();
    let targets = mutation_targets(&others);
    if let Err(err) = prefetched
        .load(&mut conn, backend, &mut sequences, targets)
        .await
    {
        let pending = others.into_iter().map(|j| j.reply);
        return abort(conn, err, answered, pending).await;
    }
    let mut others = others.into_iter();
    while let Some(Job {
        tenant,
        now,
        write,
        reply,
    }) = others.next()
    {
        let result = async {
            let seq = sequences.next(&mut conn, backend, &tenant).await?;
            apply(
                &mut conn,
                backend,
                &mut prefetched,
                &tenant,
                now,
                seq,
                write,
            )
            .await
        }
        .await;
        match result {
            Ok(outcome) => {
                sequences.consume(&tenant, 1);
                answered.push((reply, Ok(outcome)));
            }
            Err(Refused(err)) => answered.push((reply, Err(err))),
            Err(Fatal(err)) => {
                let pending = std::iter::once(reply).chain(others.map(|j| j.reply));
                return abort(conn, err, answered, pending).await;
            }
        }
    }
    let finished = async {
        sequences.store(&mut conn).await?;
        conn.execute("COMMIT").await
    }
    .await;
    match finished {
        Ok(_) => {
            for (reply, result) in answered {
                let _ = reply.send(result);
            }
        }
        Err(err) => {
            tracing::error!(error = %err, "write batch commit failed");
            let _ = conn.execute("ROLLBACK").await;
            conn.close_on_drop();
            for (reply, _) in answered {
                let _ = reply.send(Err(StoreError::Unavailable(format!(
                    "commit failed: {err}"
                ))));
            }
        }
    }
}

type Reply = oneshot::Sender<Result<WriteOutcome>>;

/// The transaction itself is broken: nothing of it may be acknowledged.
async fn abort(
    mut conn: PoolConnection<Any>,
    err: sqlx::Error,
    answered: Vec<(Reply, Result<WriteOutcome>)>,
    pending: impl Iterator<Item = Reply>,
) {
    tracing::error!(error = %err, "write batch aborted");
    let _ = conn.execute("ROLLBACK").await;
    conn.close_on_drop();
    for reply in answered.into_iter().map(|(reply, _)| reply).chain(pending) {
        let _ = reply.send(Err(StoreError::Unavailable(format!(
            "write batch aborted: {err}"
        ))));
    }
}

/// Rows per multi-row INSERT of new users (10 parameters each, far below both backends' limits).
const USERS_PER_INSERT: usize = 100;

/// Inserts new users of one tenant with one multi-row statement (and one for their
/// e-mails). A taken `userName` skips that row (`ON CONFLICT DO NOTHING`) and refuses
/// that request alone, leaving the tenant's change sequence as if it never came.
async fn create_users(
    conn: &mut PoolConnection<Any>,
    backend: Backend,
    sequences: &mut Sequences,
    jobs: Vec<Job>,
) -> std::result::Result<Vec<(Reply, Result<WriteOutcome>)>, (sqlx::Error, Vec<Reply>)> {
    let tenant = jobs[0].tenant.clone();
    let mut rows = Vec::with_capacity(jobs.len());
    let mut replies = Vec::with_capacity(jobs.len());
    for job in jobs {
        if let Write::Create { doc, .. } = job.write {
            rows.push((uuid::Uuid::new_v4().to_string(), job.now, doc));
            replies.push(job.reply);
        }
    }
    let inserted = async {
        let first_seq = match sequences.next(conn, backend, &tenant).await {
            Ok(seq) => seq,
            Err(Fatal(err)) => return Err(err),
            Err(Refused(_)) => return Err(sqlx::Error::RowNotFound),
        };
        let inserted = insert_users(conn, &tenant, first_seq, &rows).await?;
        let seqs = compact_sequences(conn, &tenant, first_seq, &rows, &inserted).await?;
        sequences.consume(&tenant, inserted.len() as i64);
        let emails: Vec<(&str, &[String])> = rows
            .iter()
            .filter(|(id, _, _)| inserted.contains_key(id))
            .map(|(id, _, doc)| (id.as_str(), doc.emails.as_slice()))
            .collect();
        insert_emails(conn, &tenant, &emails).await?;
        Ok((seqs, inserted))
    }
    .await;
    let (seqs, inserted) = match inserted {
        Ok(done) => done,
        Err(err) => return Err((err, replies)),
    };
    Ok(rows
        .into_iter()
        .zip(replies)
        .map(|((id, now, doc), reply)| {
            let result = match (inserted.get(&id), seqs.get(&id)) {
                (Some(position), Some(change_seq)) => Ok(WriteOutcome {
                    change_seq: *change_seq,
                    resource: Some(StoredResource {
                        kind: ResourceKind::User,
                        id,
                        body: doc.body,
                        created: now,
                        last_modified: now,
                        version: 1,
                        position: *position,
                    }),
                }),
                _ => Err(StoreError::Conflict(conflict_name(
                    ResourceKind::User,
                    &doc,
                ))),
            };
            (reply, result)
        })
        .collect())
}

/// Each inserted row's change sequence number. Rows were numbered in request order; when
/// some were refused the survivors are renumbered without gaps (rare: only on conflicts).
async fn compact_sequences(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    first_seq: i64,
    rows: &[(String, Timestamp, IndexedDoc)],
    inserted: &std::collections::HashMap<String, i64>,
) -> Result<std::collections::HashMap<String, i64>, sqlx::Error> {
    let mut seqs = std::collections::HashMap::with_capacity(inserted.len());
    let mut next = first_seq;
    for (i, (id, _, _)) in rows.iter().enumerate() {
        if !inserted.contains_key(id) {
            continue;
        }
        if next != first_seq + i as i64 {
            sqlx::query("UPDATE staged_users SET change_seq = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.id)
                .bind(id.as_str())
                .bind(next)
                .execute(&mut **conn)
                .await?;
        }
        seqs.insert(id.clone(), next);
        next += 1;
    }
    Ok(seqs)
}

async fn insert_users(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    first_seq: i64,
    rows: &[(String, Timestamp, IndexedDoc)],
) -> Result<std::collections::HashMap<String, i64>, sqlx::Error> {
    let mut q = crate::query::SqlBuilder::new(tenant.id);
    let mut values = Vec::with_capacity(rows.len());
    for (i, (id, now, doc)) in rows.iter().enumerate() {
        let body =
            serde_json::to_string(&doc.body).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let stamp = now.to_rfc3339();
        let params = [
            q.bind(Bind::Text(id.clone())),
            q.bind(Bind::Text(folded(&doc.user_name).unwrap_or_default())),
            bind_opt(&mut q, &doc.external_id),
            bind_opt(&mut q, &folded(&doc.display_name)),
            match doc.active {
                Some(a) => q.bind(Bind::Int(i64::from(a))),
                None => "NULL".to_owned(),
            },
            q.bind(Bind::Text(body)),
            q.bind(Bind::Text(stamp)),
            q.bind(Bind::Int(first_seq + i as i64)),
            q.bind(Bind::Text(emails_folded(&doc.emails))),
        ];
        let [id_p, name_p, ext_p, display_p, active_p, body_p, stamp_p, seq_p, emails_p] = params;
        values.push(format!(
            "($1, {id_p}, {name_p}, {ext_p}, {display_p}, {active_p}, {body_p}, {stamp_p}, {stamp_p}, 1, {seq_p}, {emails_p})"
        ));
    }
    q.sql = format!(
        "INSERT INTO staged_users (tenant_id, id, user_name_folded, external_id, display_name_folded,
         active, body, created_at, modified_at, version, change_seq, emails_folded)
         VALUES {} ON CONFLICT DO NOTHING RETURNING id, pk",
        values.join(", ")
    );
    let mut inserted = std::collections::HashMap::with_capacity(rows.len());
    for row in q.apply(sqlx::query(&q.sql)).fetch_all(&mut **conn).await? {
        inserted.insert(
            row.try_get::<String, _>("id")?,
            row.try_get::<i64, _>("pk")?,
        );
    }
    Ok(inserted)
}

fn fail_all(jobs: Vec<Job>, err: &sqlx::Error) {
    tracing::error!(error = %err, "write batch could not start");
    for job in jobs {
        let _ = job
            .reply
            .send(Err(StoreError::Unavailable(err.to_string())));
    }
}

/// A refused write (conflict, not found, rejected mutation) is detected before it writes
/// anything, so it fails alone without a savepoint; a database error breaks the batch.
enum Failure {
    Refused(StoreError),
    Fatal(sqlx::Error),
}
use Failure::{Fatal, Refused};

impl From<sqlx::Error> for Failure {
    fn from(err: sqlx::Error) -> Self {
        Fatal(err)
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Database(db) => Fatal(db),
            other => Refused(other),
        }
    }
}

/// The tenants' change sequences within one batch: each tenant's row is read (and on
/// PostgreSQL locked) once, numbers are handed out to the writes that succeed, and the
/// final value is written back once before the commit. Commit order is sequence order,
/// since every writer of a tenant queues on that row.
#[derive(Default)]
struct Sequences {
    last: Vec<(i64, i64)>,
    dirty: Vec<i64>,
}

impl Sequences {
    async fn next(
        &mut self,
        conn: &mut PoolConnection<Any>,
        backend: Backend,
        tenant: &Tenant,
    ) -> Result<i64, Failure> {
        if let Some((_, last)) = self.last.iter().find(|(id, _)| *id == tenant.id) {
            return Ok(last + 1);
        }
        let lock = if backend == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let row = sqlx::query(&format!(
            "SELECT change_seq FROM tenants WHERE id = $1{lock}"
        ))
        .bind(tenant.id)
        .fetch_optional(&mut **conn)
        .await?
        .ok_or(Refused(StoreError::NotFound))?;
        let last: i64 = row.try_get(0)?;
        self.last.push((tenant.id, last));
        Ok(last + 1)
    }

    fn consume(&mut self, tenant: &Tenant, count: i64) {
        if let Some((_, last)) = self.last.iter_mut().find(|(id, _)| *id == tenant.id) {
            *last += count;
            if !self.dirty.contains(&tenant.id) {
                self.dirty.push(tenant.id);
            }
        }
    }

    async fn store(&self, conn: &mut PoolConnection<Any>) -> Result<(), sqlx::Error> {
        for (tenant_id, last) in self.last.iter().filter(|(id, _)| self.dirty.contains(id)) {
            sqlx::query("UPDATE tenants SET change_seq = $2 WHERE id = $1")
                .bind(tenant_id)
                .bind(last)
                .execute(&mut **conn)
                .await?;
        }
        Ok(())
    }
}

async fn apply(
    conn: &mut PoolConnection<Any>,
    backend: Backend,
    prefetched: &mut Prefetched,
    tenant: &Tenant,
    now: Timestamp,
    change_seq: i64,
    write: Write,
) -> Result<WriteOutcome, Failure> {
    let stamp = now.to_rfc3339();
    match write {
        Write::Create { kind, doc, members } => {
            let id = uuid::Uuid::new_v4().to_string();
            let position = insert(conn, tenant, kind, &id, &doc, &stamp, change_seq).await?;
            if kind == ResourceKind::Group {
                add_members(conn, tenant, &id, &members).await?;
            }
            let resource = StoredResource {
                kind,
                id,
                body: doc.body,
                created: now,
                last_modified: now,
                version: 1,
                position,
            };
            Ok(WriteOutcome {
                resource: Some(resource),
                change_seq,
            })
        }
        Write::Mutate { kind, id, mutator } => {
            let (current, indexed) = match prefetched.rows.get(&(kind, id.clone())) {
                Some(row) => row.clone(),
                None => fetch(conn, tenant, kind, &id, backend).await?,
            };
            let mutation: Mutation = mutator(Current {
                id: current.id.clone(),
                body: current.body.clone(),
                version: current.version,
            })
            .map_err(|e| Refused(StoreError::Rejected(e)))?;
            let renamed =
                folded(&mutation.doc.user_name).unwrap_or_default() != indexed.user_name_folded;
            if kind == ResourceKind::User && renamed {
                ensure_user_name_free(conn, tenant, &id, &mutation.doc).await?;
            }
            let version = update(
                conn,
                tenant,
                kind,
                &id,
                &mutation.doc,
                &stamp,
                change_seq,
                &indexed,
            )
            .await?;
            for op in &mutation.members {
                apply_member_op(conn, tenant, &id, op).await?;
            }
            let resource = StoredResource {
                kind,
                id: id.clone(),
                body: mutation.doc.body,
                created: current.created,
                last_modified: now,
                version,
                position: current.position,
            };
            // A later write of this resource in the same batch starts from this state.
            let indexed = IndexedNow {
                user_name_folded: folded(&mutation.doc.user_name).unwrap_or_default(),
                emails_folded: emails_folded(&mutation.doc.emails),
            };
            prefetched
                .rows
                .insert((kind, id), (resource.clone(), indexed));
            Ok(WriteOutcome {
                resource: Some(resource),
                change_seq,
            })
        }
        Write::Delete { kind, id } => {
            let sql = format!(
                "DELETE FROM {} WHERE tenant_id = $1 AND id = $2",
                kind.table()
            );
            let done = sqlx::query(&sql)
                .bind(tenant.id)
                .bind(id.as_str())
                .execute(&mut **conn)
                .await?;
            if done.rows_affected() == 0 {
                return Err(Refused(StoreError::NotFound));
            }
            prefetched.rows.remove(&(kind, id.clone()));
            let member_column = match kind {
                ResourceKind::User => "member_id",
                ResourceKind::Group => "group_id",
            };
            sqlx::query(&format!(
                "DELETE FROM staged_group_members WHERE tenant_id = $1 AND {member_column} = $2"
            ))
            .bind(tenant.id)
            .bind(id.as_str())
            .execute(&mut **conn)
            .await?;
            if kind == ResourceKind::User {
                delete_emails(conn, tenant, &id).await?;
            }
            Ok(WriteOutcome {
                resource: None,
                change_seq,
            })
        }
    }
}

/// The current rows of every resource the batch mutates, read (and on PostgreSQL locked)
/// with one statement per tenant and kind instead of one per write.
#[derive(Default)]
struct Prefetched {
    rows: std::collections::HashMap<(ResourceKind, String), (StoredResource, IndexedNow)>,
}

impl Prefetched {
    async fn load(
        &mut self,
        conn: &mut PoolConnection<Any>,
        backend: Backend,
        sequences: &mut Sequences,
        mut wanted: Vec<(Tenant, ResourceKind, String)>,
    ) -> Result<(), sqlx::Error> {
        wanted.sort_by_key(|(tenant, kind, _)| (tenant.id, *kind == ResourceKind::Group));
        for group in wanted.chunk_by(|a, b| a.0.id == b.0.id && a.1 == b.1) {
            let (tenant, kind) = (&group[0].0, group[0].1);
            // The tenant's row is locked before any resource row: one lock order everywhere.
            match sequences.next(conn, backend, tenant).await {
                Ok(_) => {}
                Err(Fatal(err)) => return Err(err),
                Err(Refused(_)) => continue,
            }
            for ids in group.chunks(500) {
                let mut q = crate::query::SqlBuilder::new(tenant.id);
                let params: Vec<String> = ids
                    .iter()
                    .map(|(_, _, id)| q.bind(Bind::Text(id.clone())))
                    .collect();
                let lock = if backend == Backend::Postgres {
                    " FOR UPDATE"
                } else {
                    ""
                };
                q.sql = format!(
                    "SELECT pk, id, body, created_at, modified_at, version, {} FROM {} WHERE tenant_id = $1 AND id IN ({}){lock}",
                    indexed_columns(kind),
                    kind.table(),
                    params.join(", ")
                );
                for row in q.apply(sqlx::query(&q.sql)).fetch_all(&mut **conn).await? {
                    let indexed = IndexedNow {
                        user_name_folded: row.try_get("user_name_folded")?,
                        emails_folded: row.try_get("emails_folded")?,
                    };
                    let resource = resource_from_row(kind, &row)
                        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                    self.rows
                        .insert((kind, resource.id.clone()), (resource, indexed));
                }
            }
        }
        Ok(())
    }
}

/// The resources a batch's mutations write, gathered before any await: jobs hold
/// mutators that cannot be shared across threads.
fn mutation_targets(jobs: &[Job]) -> Vec<(Tenant, ResourceKind, String)> {
    jobs.iter()
        .filter_map(|job| match &job.write {
            Write::Mutate { kind, id, .. } => Some((job.tenant.clone(), *kind, id.clone())),
            _ => None,
        })
        .collect()
}

fn indexed_columns(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "user_name_folded, emails_folded",
        ResourceKind::Group => "'' AS user_name_folded, '' AS emails_folded",
    }
}

/// A rename onto a taken userName is refused before anything is written, so the batch's
/// transaction is never broken by a unique violation.
async fn ensure_user_name_free(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    id: &str,
    doc: &IndexedDoc,
) -> Result<(), Failure> {
    let Some(name) = &doc.user_name else {
        return Ok(());
    };
    let taken = sqlx::query(
        "SELECT 1 FROM staged_users WHERE tenant_id = $1 AND user_name_folded = $2 AND id <> $3",
    )
    .bind(tenant.id)
    .bind(scimgate_core::text::fold_case(name))
    .bind(id)
    .fetch_optional(&mut **conn)
    .await?;
    match taken {
        Some(_) => Err(Refused(StoreError::Conflict(conflict_name(
            ResourceKind::User,
            doc,
        )))),
        None => Ok(()),
    }
}

/// What a write needs to know of a resource's indexed values to skip needless work.
#[derive(Clone)]
struct IndexedNow {
    user_name_folded: String,
    emails_folded: String,
}

async fn fetch(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    kind: ResourceKind,
    id: &str,
    backend: Backend,
) -> Result<(StoredResource, IndexedNow)> {
    // FOR UPDATE: another replica's batch must wait for ours before it reads this row.
    let lock = if backend == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let indexed = indexed_columns(kind);
    let sql = format!(
        "SELECT pk, id, body, created_at, modified_at, version, {indexed} FROM {} WHERE tenant_id = $1 AND id = $2{lock}",
        kind.table()
    );
    let row = sqlx::query(&sql)
        .bind(tenant.id)
        .bind(id)
        .fetch_optional(&mut **conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let now = IndexedNow {
        user_name_folded: row.try_get("user_name_folded")?,
        emails_folded: row.try_get("emails_folded")?,
    };
    Ok((resource_from_row(kind, &row)?, now))
}

fn emails_folded(emails: &[String]) -> String {
    emails
        .iter()
        .map(|e| scimgate_core::text::fold_case(e))
        .collect::<Vec<_>>()
        .join("\n")
}

fn body_text(doc: &IndexedDoc) -> Result<String> {
    serde_json::to_string(&doc.body)
        .map_err(|e| StoreError::Corrupt(format!("unserialisable body: {e}")))
}

fn conflict_name(kind: ResourceKind, doc: &IndexedDoc) -> String {
    match (kind, &doc.user_name) {
        (ResourceKind::User, Some(name)) => format!("a user with userName {name:?}"),
        _ => format!("this {}", kind.name()),
    }
}

fn folded(value: &Option<String>) -> Option<String> {
    value.as_deref().map(scimgate_core::text::fold_case)
}

/// Inserts a new resource; returns its position. A taken `userName` is a refusal, found
/// by `ON CONFLICT DO NOTHING` rather than an error that would break the transaction.
async fn insert(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    kind: ResourceKind,
    id: &str,
    doc: &IndexedDoc,
    stamp: &str,
    change_seq: i64,
) -> Result<i64, Failure> {
    let body = body_text(doc)?;
    let row = match kind {
        ResourceKind::User => {
            sqlx::query(
                "INSERT INTO staged_users (tenant_id, id, user_name_folded, external_id, display_name_folded,
                 active, body, created_at, modified_at, version, change_seq, emails_folded)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, 1, $9, $10)
                 ON CONFLICT DO NOTHING RETURNING pk",
            )
            .bind(tenant.id)
            .bind(id)
            .bind(folded(&doc.user_name).unwrap_or_default())
            .bind(doc.external_id.as_deref())
            .bind(folded(&doc.display_name))
            .bind(doc.active.map(i64::from))
            .bind(body)
            .bind(stamp)
            .bind(change_seq)
            .bind(emails_folded(&doc.emails))
            .fetch_optional(&mut **conn)
            .await?
        }
        ResourceKind::Group => {
            sqlx::query(
                "INSERT INTO staged_groups (tenant_id, id, external_id, display_name_folded,
                 body, created_at, modified_at, version, change_seq)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, 1, $7)
                 ON CONFLICT DO NOTHING RETURNING pk",
            )
            .bind(tenant.id)
            .bind(id)
            .bind(doc.external_id.as_deref())
            .bind(folded(&doc.display_name))
            .bind(body)
            .bind(stamp)
            .bind(change_seq)
            .fetch_optional(&mut **conn)
            .await?
        }
    };
    let Some(row) = row else {
        return Err(Refused(StoreError::Conflict(conflict_name(kind, doc))));
    };
    if kind == ResourceKind::User {
        insert_emails(conn, tenant, &[(id, doc.emails.as_slice())]).await?;
    }
    Ok(row.try_get(0)?)
}

/// Writes a mutated resource; returns its new version. The e-mail index is rewritten
/// only when the e-mails changed.
#[allow(clippy::too_many_arguments)]
async fn update(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    kind: ResourceKind,
    id: &str,
    doc: &IndexedDoc,
    stamp: &str,
    change_seq: i64,
    before: &IndexedNow,
) -> Result<i64, Failure> {
    let emails = emails_folded(&doc.emails);
    let body = body_text(doc)?;
    let row = match kind {
        ResourceKind::User => {
            sqlx::query(
                "UPDATE staged_users SET user_name_folded = $3, external_id = $4, display_name_folded = $5,
                 active = $6, body = $7, modified_at = $8, version = version + 1, change_seq = $9,
                 emails_folded = $10
                 WHERE tenant_id = $1 AND id = $2 RETURNING version",
            )
            .bind(tenant.id)
            .bind(id)
            .bind(folded(&doc.user_name).unwrap_or_default())
            .bind(doc.external_id.as_deref())
            .bind(folded(&doc.display_name))
            .bind(doc.active.map(i64::from))
            .bind(body)
            .bind(stamp)
            .bind(change_seq)
            .bind(&emails)
            .fetch_one(&mut **conn)
            .await?
        }
        ResourceKind::Group => {
            sqlx::query(
                "UPDATE staged_groups SET external_id = $3, display_name_folded = $4, body = $5,
                 modified_at = $6, version = version + 1, change_seq = $7
                 WHERE tenant_id = $1 AND id = $2 RETURNING version",
            )
            .bind(tenant.id)
            .bind(id)
            .bind(doc.external_id.as_deref())
            .bind(folded(&doc.display_name))
            .bind(body)
            .bind(stamp)
            .bind(change_seq)
            .fetch_one(&mut **conn)
            .await?
        }
    };
    if kind == ResourceKind::User && emails != before.emails_folded {
        delete_emails(conn, tenant, id).await?;
        insert_emails(conn, tenant, &[(id, doc.emails.as_slice())]).await?;
    }
    Ok(row.try_get(0)?)
}

async fn delete_emails(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM staged_user_emails WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant.id)
        .bind(id)
        .execute(&mut **conn)
        .await?;
    Ok(())
}

/// Adds e-mail index rows for several users with as few statements as possible.
async fn insert_emails(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    users: &[(&str, &[String])],
) -> Result<(), sqlx::Error> {
    let rows: Vec<(&str, &String)> = users
        .iter()
        .flat_map(|(id, emails)| emails.iter().map(move |e| (*id, e)))
        .collect();
    for chunk in rows.chunks(200) {
        let mut q = crate::query::SqlBuilder::new(tenant.id);
        let values: Vec<String> = chunk
            .iter()
            .map(|(id, email)| {
                let id = q.bind(Bind::Text((*id).to_owned()));
                let value = q.bind(Bind::Text(scimgate_core::text::fold_case(email)));
                format!("($1, {id}, {value})")
            })
            .collect();
        q.sql = format!(
            "INSERT INTO staged_user_emails (tenant_id, user_id, value_folded) VALUES {}",
            values.join(", ")
        );
        q.apply(sqlx::query(&q.sql)).execute(&mut **conn).await?;
    }
    Ok(())
}

async fn add_members(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    group_id: &str,
    members: &[Member],
) -> Result<()> {
    // Multi-row inserts: a batch of 10,000 members is 100 statements, not 10,000.
    for chunk in members.chunks(100) {
        let mut q = crate::query::SqlBuilder::new(tenant.id);
        let group_p = q.bind(Bind::Text(group_id.to_owned()));
        let mut rows = Vec::with_capacity(chunk.len());
        for member in chunk {
            let value = q.bind(Bind::Text(member.value.clone()));
            let member_type = bind_opt(&mut q, &member.member_type);
            let display = bind_opt(&mut q, &member.display);
            rows.push(format!(
                "($1, {group_p}, {value}, {member_type}, {display})"
            ));
        }
        q.sql = format!(
            "INSERT INTO staged_group_members (tenant_id, group_id, member_id, member_type, display) VALUES {}
             ON CONFLICT (tenant_id, group_id, member_id) DO NOTHING",
            rows.join(", ")
        );
        q.apply(sqlx::query(&q.sql)).execute(&mut **conn).await?;
    }
    Ok(())
}

fn bind_opt(q: &mut crate::query::SqlBuilder, value: &Option<String>) -> String {
    match value {
        Some(v) => q.bind(Bind::Text(v.clone())),
        None => "NULL".to_owned(),
    }
}

async fn apply_member_op(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    group_id: &str,
    op: &MemberOp,
) -> Result<()> {
    match op {
        MemberOp::Add(members) => add_members(conn, tenant, group_id, members).await,
        MemberOp::RemoveAll => {
            sqlx::query("DELETE FROM staged_group_members WHERE tenant_id = $1 AND group_id = $2")
                .bind(tenant.id)
                .bind(group_id)
                .execute(&mut **conn)
                .await?;
            Ok(())
        }
        MemberOp::Remove(ids) => {
            for chunk in ids.chunks(100) {
                let mut q = crate::query::SqlBuilder::new(tenant.id);
                let group_p = q.bind(Bind::Text(group_id.to_owned()));
                let params: Vec<String> = chunk
                    .iter()
                    .map(|id| q.bind(Bind::Text(id.clone())))
                    .collect();
                q.sql = format!(
                    "DELETE FROM staged_group_members WHERE tenant_id = $1 AND group_id = {group_p} AND member_id IN ({})",
                    params.join(", ")
                );
                q.apply(sqlx::query(&q.sql)).execute(&mut **conn).await?;
            }
            Ok(())
        }
    }
}
