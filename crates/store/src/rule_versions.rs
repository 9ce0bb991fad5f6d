//! The rule set's history and its draft. Sync and automatic sync use the published set
//! (`rule_sets`); every publish also keeps the set as published, numbered by the rule
//! set's edit version, with who published it and why. A tenant has at most one draft:
//! admins edit it, preview it, and publish it, which replaces the published set only if
//! nobody published since the draft began (else the publish is refused as stale).

use crate::edits::{self, Aggregate, Expect, Versioned};
use crate::{catalog, Result, Store, StoreError, Tenant};
use scimgate_core::{Catalog, RuleSource, StaleEdit};
use sqlx::{AnyConnection, Row};

/// A published version of the rule set (without its text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleVersion {
    pub version: i64,
    pub published_at: String,
    pub published_by: String,
    pub comment: String,
}

/// The tenant's draft rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDraft {
    /// The published version the draft was begun from (0: none was published yet).
    pub base_version: i64,
    pub source: RuleSource,
    pub updated_at: String,
    pub updated_by: String,
}

/// A draft to save: its rules, who saves it and when, and whether it is based on what is
/// published now (`rebase`: a restored version) or keeps the base it began from.
#[derive(Debug, Clone)]
pub struct DraftWrite {
    pub source: RuleSource,
    pub by: String,
    pub now: String,
    pub rebase: bool,
    /// The published version the writer read, when it knows: a draft begun from an
    /// older one is refused, or publishing it would undo what was published since.
    pub based_on: Option<i64>,
}

/// Who publishes, and why (kept with the version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub by: String,
    pub comment: String,
}

fn scripts_text(source: &RuleSource) -> Result<String> {
    serde_json::to_string(&source.scripts).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn source_from(yaml: String, scripts: &str) -> Result<RuleSource> {
    Ok(RuleSource {
        yaml,
        scripts: serde_json::from_str(scripts)
            .map_err(|e| StoreError::Corrupt(format!("saved scripts: {e}")))?,
    })
}

fn version_from(row: &sqlx::any::AnyRow) -> Result<RuleVersion> {
    Ok(RuleVersion {
        version: row.try_get("version")?,
        published_at: row.try_get("published_at")?,
        published_by: row.try_get("published_by")?,
        comment: row.try_get("comment")?,
    })
}

/// Keeps `source` as published version `version`, inside the publishing transaction.
pub(crate) async fn keep_version(
    conn: &mut AnyConnection,
    tenant: &Tenant,
    version: i64,
    source: &RuleSource,
    publication: &Publication,
    now: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO rule_set_versions
            (tenant_id, version, yaml, scripts, published_at, published_by, comment)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant.id)
    .bind(version)
    .bind(&source.yaml)
    .bind(scripts_text(source)?)
    .bind(now)
    .bind(&publication.by)
    .bind(&publication.comment)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes the published set (what sync uses).
pub(crate) async fn write_published(
    conn: &mut AnyConnection,
    tenant: &Tenant,
    source: &RuleSource,
    now: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO rule_sets (tenant_id, yaml, scripts, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id) DO UPDATE SET yaml = excluded.yaml,
            scripts = excluded.scripts, updated_at = excluded.updated_at",
    )
    .bind(tenant.id)
    .bind(&source.yaml)
    .bind(scripts_text(source)?)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn read_draft(conn: &mut AnyConnection, tenant: &Tenant) -> Result<Option<RuleDraft>> {
    let row = sqlx::query(
        "SELECT base_version, yaml, scripts, updated_at, updated_by
         FROM rule_set_drafts WHERE tenant_id = $1",
    )
    .bind(tenant.id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let scripts: String = row.try_get("scripts")?;
    Ok(Some(RuleDraft {
        base_version: row.try_get("base_version")?,
        source: source_from(row.try_get("yaml")?, &scripts)?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    }))
}

impl Store {
    /// The published versions, newest first.
    pub async fn rule_versions(&self, tenant: &Tenant) -> Result<Vec<RuleVersion>> {
        sqlx::query(
            "SELECT version, published_at, published_by, comment FROM rule_set_versions
             WHERE tenant_id = $1 ORDER BY version DESC",
        )
        .bind(tenant.id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(version_from)
        .collect()
    }

    /// One published version with its rule set.
    pub async fn rule_version(
        &self,
        tenant: &Tenant,
        version: i64,
    ) -> Result<Option<(RuleVersion, RuleSource)>> {
        let row = sqlx::query(
            "SELECT version, published_at, published_by, comment, yaml, scripts
             FROM rule_set_versions WHERE tenant_id = $1 AND version = $2",
        )
        .bind(tenant.id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let scripts: String = row.try_get("scripts")?;
        Ok(Some((
            version_from(&row)?,
            source_from(row.try_get("yaml")?, &scripts)?,
        )))
    }

    /// The draft (`None`: there is none) and the draft's edit version.
    pub async fn rule_draft(&self, tenant: &Tenant) -> Result<Versioned<Option<RuleDraft>>> {
        let mut conn = self.pool.acquire().await?;
        let value = read_draft(&mut conn, tenant).await?;
        let version = edits::current(&mut conn, tenant, Aggregate::RuleDraft)
            .await?
            .0;
        Ok(Versioned { version, value })
    }

    /// Saves the draft if `check` accepts it against the catalogue; begins one (based on
    /// the published version) when there is none, which `Expect::Version(0)` expects.
    pub async fn save_rule_draft<E>(
        &self,
        tenant: &Tenant,
        expect: Expect,
        draft: DraftWrite,
        check: impl FnOnce(&Catalog) -> std::result::Result<(), E> + Send + 'static,
    ) -> std::result::Result<Versioned<RuleDraft>, E>
    where
        E: From<StoreError> + Send + 'static,
    {
        let tenant = tenant.clone();
        let DraftWrite {
            source,
            by,
            now,
            rebase,
            based_on,
        } = draft;
        self.write_conn(move |conn| {
            Box::pin(async move {
                edits::lock(conn, &tenant, Aggregate::Catalog).await?;
                let existing = read_draft(conn, &tenant).await?;
                // Version 0 means "there is no draft" (the counter keeps counting after
                // a draft is published or discarded): true now, or stale if one exists.
                let expect = match (expect, &existing) {
                    (Expect::Version(0), None) => Expect::Any,
                    (expect, _) => expect,
                };
                let version =
                    edits::bump(conn, &tenant, Aggregate::RuleDraft, expect, &now).await?;
                check(&catalog::read(conn, &tenant).await?)?;
                let (published, published_at) =
                    edits::current(conn, &tenant, Aggregate::RuleSet).await?;
                if let (None, false, Some(read)) = (&existing, rebase, based_on) {
                    if read != published {
                        return Err(StoreError::Stale(StaleEdit {
                            what: "the published rule set (published again since it was read)",
                            expected: read,
                            current: published,
                            changed_at: published_at.unwrap_or_default(),
                        })
                        .into());
                    }
                }
                let base_version = match existing {
                    Some(draft) if !rebase => draft.base_version,
                    _ => published,
                };
                sqlx::query(
                    "INSERT INTO rule_set_drafts
                        (tenant_id, base_version, yaml, scripts, updated_at, updated_by)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (tenant_id) DO UPDATE SET base_version = excluded.base_version,
                        yaml = excluded.yaml, scripts = excluded.scripts,
                        updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                )
                .bind(tenant.id)
                .bind(base_version)
                .bind(&source.yaml)
                .bind(scripts_text(&source)?)
                .bind(&now)
                .bind(&by)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::from)?;
                let draft = RuleDraft {
                    base_version,
                    source,
                    updated_at: now,
                    updated_by: by,
                };
                Ok(Versioned {
                    version,
                    value: draft,
                })
            })
        })
        .await
    }

    /// Throws the draft away; [`StoreError::NotFound`] when there is none.
    pub async fn discard_rule_draft(
        &self,
        tenant: &Tenant,
        expect: Expect,
        now: String,
    ) -> Result<i64> {
        let tenant = tenant.clone();
        self.write_conn(move |conn| {
            Box::pin(async move {
                let version =
                    edits::bump(conn, &tenant, Aggregate::RuleDraft, expect, &now).await?;
                let gone = sqlx::query("DELETE FROM rule_set_drafts WHERE tenant_id = $1")
                    .bind(tenant.id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                if gone == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(version)
            })
        })
        .await
    }

    /// Publishes the draft: if `check` accepts it against the catalogue and nobody
    /// published since the draft began, it becomes the published set and a new version,
    /// and the draft is gone. Returns the new version. Changes nothing otherwise: a
    /// publish in between is [`StoreError::Stale`] naming the version published since.
    pub async fn publish_rule_draft<E>(
        &self,
        tenant: &Tenant,
        expect: Expect,
        publication: Publication,
        now: String,
        check: impl FnOnce(&RuleSource, &Catalog) -> std::result::Result<(), E> + Send + 'static,
    ) -> std::result::Result<i64, E>
    where
        E: From<StoreError> + Send + 'static,
    {
        let tenant = tenant.clone();
        self.write_conn(move |conn| {
            Box::pin(async move {
                edits::lock(conn, &tenant, Aggregate::Catalog).await?;
                edits::bump(conn, &tenant, Aggregate::RuleDraft, expect, &now).await?;
                let draft = read_draft(conn, &tenant)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                // The published set must be the one the draft began from.
                let version = edits::bump(
                    conn,
                    &tenant,
                    Aggregate::RuleSet,
                    Expect::Version(draft.base_version),
                    &now,
                )
                .await
                .map_err(|e| match e {
                    StoreError::Stale(stale) => StoreError::Stale(StaleEdit {
                        what: "the published rule set (published again since this draft began)",
                        ..stale
                    }),
                    e => e,
                })?;
                check(&draft.source, &catalog::read(conn, &tenant).await?)?;
                write_published(conn, &tenant, &draft.source, &now).await?;
                keep_version(conn, &tenant, version, &draft.source, &publication, &now).await?;
                sqlx::query("DELETE FROM rule_set_drafts WHERE tenant_id = $1")
                    .bind(tenant.id)
                    .execute(&mut *conn)
                    .await
                    .map_err(StoreError::from)?;
                Ok(version)
            })
        })
        .await
    }
}
