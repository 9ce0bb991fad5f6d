//! The holding area as the admin browses it: users found by a text (userName, display
//! name, e-mail or externalId, case-insensitive, anywhere in the value), narrowed to one
//! group's members, a page at a time, counted, all in SQL so 100,000 users are never
//! loaded to show fifty; and the groups to browse by.

use crate::columns::Decoded;
use crate::snapshot::user_from_row;
use crate::{Backend, Result, Store, Tenant};
use scimgate_core::text::fold_case;
use scimgate_core::StagedUser;
use sqlx::Row;

/// Where a staged user stands with the CRM (the Users page's status facet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// No CRM account has this user.
    StagedOnly,
    /// Its CRM account is active.
    Synced,
    /// Its CRM account was deactivated.
    Deprovisioned,
    /// The last run that touched the user could not sync it.
    Error,
}

impl UserStatus {
    pub const ALL: [UserStatus; 4] = [
        UserStatus::StagedOnly,
        UserStatus::Synced,
        UserStatus::Deprovisioned,
        UserStatus::Error,
    ];

    /// The name in URLs (`?status=synced`).
    pub fn name(self) -> &'static str {
        match self {
            UserStatus::StagedOnly => "staged",
            UserStatus::Synced => "synced",
            UserStatus::Deprovisioned => "deprovisioned",
            UserStatus::Error => "error",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            UserStatus::StagedOnly => "Staged only",
            UserStatus::Synced => "Synced",
            UserStatus::Deprovisioned => "Deprovisioned",
            UserStatus::Error => "Error",
        }
    }

    pub fn parse(name: &str) -> Option<UserStatus> {
        UserStatus::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The condition on `u` (a staged user) this status is; fixed SQL, no input in it.
    fn condition(self) -> &'static str {
        match self {
            UserStatus::StagedOnly => {
                "NOT EXISTS (SELECT 1 FROM crm_accounts a
                 WHERE a.tenant_id = u.tenant_id AND a.staged_user_id = u.id)"
            }
            UserStatus::Synced => {
                "EXISTS (SELECT 1 FROM crm_accounts a
                 WHERE a.tenant_id = u.tenant_id AND a.staged_user_id = u.id AND a.active = 1)"
            }
            UserStatus::Deprovisioned => {
                "EXISTS (SELECT 1 FROM crm_accounts a
                 WHERE a.tenant_id = u.tenant_id AND a.staged_user_id = u.id AND a.active = 0)"
            }
            UserStatus::Error => {
                "'error' = (SELECT r.outcome FROM sync_run_users r
                 WHERE r.tenant_id = u.tenant_id AND r.staged_user_id = u.id
                 ORDER BY r.run_id DESC LIMIT 1)"
            }
        }
    }
}

/// What the Users page asks for.
#[derive(Debug, Clone, Default)]
pub struct UserSearch<'a> {
    pub text: Option<&'a str>,
    /// A group's id: only its direct members.
    pub group_id: Option<&'a str>,
    pub status: Option<UserStatus>,
    pub offset: i64,
    pub limit: i64,
}

/// One page of found users and how many were found in all.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub total: i64,
    pub users: Vec<StagedUser>,
}

/// `text` as a LIKE pattern matching it anywhere, its own `%`, `_` and `\` taken literally.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in fold_case(text).chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The search's conditions but the text's; `$3` is the group (or NULL).
const WHERE: &str = "WHERE u.tenant_id = $1
    AND ($3 IS NULL OR EXISTS (SELECT 1 FROM staged_group_members m
         WHERE m.tenant_id = u.tenant_id AND m.group_id = $3 AND m.member_id = u.id))";

/// Shorter texts cannot use the trigram index and are looked for row by row.
const INDEXED_TEXT_CHARS: usize = 3;

/// How the text is looked for: the condition on `u` with `$2`, and the value for `$2`.
fn text_condition(backend: Backend, text: Option<&str>) -> (&'static str, Option<String>) {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return ("", None);
    };
    let folded = fold_case(text);
    if folded.chars().count() < INDEXED_TEXT_CHARS {
        let scan = "AND (u.user_name_folded LIKE $2 ESCAPE '\\' OR u.display_name_folded LIKE $2 ESCAPE '\\'
             OR u.emails_folded LIKE $2 ESCAPE '\\' OR LOWER(COALESCE(u.external_id, '')) LIKE $2 ESCAPE '\\')";
        return (scan, Some(contains_pattern(&folded)));
    }
    match backend {
        // An FTS5 phrase of the trigram tokenizer matches the text as a substring; inside
        // the quotes every character is literal but the quote itself, which is doubled.
        Backend::Sqlite => (
            "AND u.pk IN (SELECT rowid FROM staged_users_search WHERE staged_users_search MATCH $2)",
            Some(format!("\"{}\"", folded.replace('"', "\"\""))),
        ),
        // The expression of the trigram index (migration 0006), exactly.
        Backend::Postgres => (
            "AND (u.user_name_folded || E'\\n' || COALESCE(u.display_name_folded, '') || E'\\n'
                 || u.emails_folded || E'\\n' || LOWER(COALESCE(u.external_id, ''))) LIKE $2",
            Some(contains_pattern(&folded)),
        ),
    }
}

/// The text SQLite's trigram index holds for a user `u`.
const SEARCH_TEXT: &str = "u.user_name_folded || char(10) || COALESCE(u.display_name_folded, '')
    || char(10) || u.emails_folded || char(10) || LOWER(COALESCE(u.external_id, ''))";

/// Users indexed per transaction: SQLite's write lock is held a few milliseconds at a
/// time, between SCIM writes.
const REFRESH_BATCH: i64 = 500;

impl Store {
    /// Brings SQLite's search index up to date with the users written since it last was
    /// (writes only note which, to stay fast), batch by batch, each one transaction that
    /// takes its users off the stale list and then indexes them as they are now; `pause`
    /// between batches lets SCIM writes in. A user written meanwhile is noted again, so it
    /// is indexed again. Returns how many users were indexed. PostgreSQL's index is kept by
    /// every write: nothing to do there.
    pub async fn refresh_user_search(&self, pause: std::time::Duration) -> Result<u64> {
        if self.backend() != Backend::Sqlite {
            return Ok(0);
        }
        let mut indexed = 0;
        loop {
            // Read first: a write transaction (SQLite's write lock) only when there is work.
            let waiting: i64 = sqlx::query(
                "SELECT COUNT(*) FROM (SELECT 1 FROM staged_users_search_stale LIMIT 1) AS s",
            )
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
            if waiting == 0 {
                return Ok(indexed);
            }
            let mut tx = self.pool.begin_with(self.backend().begin_write()).await?;
            let taken: Vec<i64> = sqlx::query(&format!(
                "DELETE FROM staged_users_search_stale WHERE pk IN
                 (SELECT pk FROM staged_users_search_stale ORDER BY pk LIMIT {REFRESH_BATCH})
                 RETURNING pk"
            ))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get::<i64, _>(0))
            .collect::<std::result::Result<_, _>>()?;
            if taken.is_empty() {
                tx.commit().await?;
                return Ok(indexed);
            }
            // Database integers, so safe to write into the SQL.
            let pks = (taken.iter().map(i64::to_string))
                .collect::<Vec<_>>()
                .join(",");
            sqlx::query(&format!(
                "DELETE FROM staged_users_search WHERE rowid IN ({pks})"
            ))
            .persistent(false)
            .execute(&mut *tx)
            .await?;
            sqlx::query(&format!(
                "INSERT INTO staged_users_search (rowid, text)
                 SELECT u.pk, {SEARCH_TEXT} FROM staged_users u WHERE u.pk IN ({pks})"
            ))
            .persistent(false)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            indexed += taken.len() as u64;
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
    }

    /// A page of the tenant's staged users that match, by userName.
    pub async fn search_staged_users(
        &self,
        tenant: &Tenant,
        search: &UserSearch<'_>,
    ) -> Result<UserPage> {
        let (text, value) = text_condition(self.backend(), search.text);
        if value.is_some() && text.contains("staged_users_search") {
            self.refresh_user_search(std::time::Duration::ZERO).await?;
        }
        let status = match search.status {
            Some(status) => format!("AND {}", status.condition()),
            None => String::new(),
        };
        if value.is_none() && search.group_id.is_none() && search.status.is_none() {
            return self.browse_staged_users(tenant, search).await;
        }
        // `$2` appears in the SQL only with a text; the NULL keeps the numbering.
        let text_or_null = match value.is_some() {
            true => "",
            false => "AND CAST($2 AS TEXT) IS NULL",
        };
        let rows = sqlx::query(&format!(
            "SELECT u.id, u.external_id, u.created_at, u.body, COUNT(*) OVER () AS total
             FROM staged_users u {WHERE} {text}{text_or_null} {status}
             ORDER BY u.user_name_folded LIMIT $4 OFFSET $5"
        ))
        .bind(tenant.id)
        .bind(&value)
        .bind(search.group_id)
        .bind(search.limit)
        .bind(search.offset)
        .fetch_all(&self.pool)
        .await?;
        let total = match rows.first() {
            Some(row) => row.try_get("total")?,
            // Past the end (or an empty page): the count needs its own query.
            None if search.offset > 0 => sqlx::query(&format!(
                "SELECT COUNT(*) FROM staged_users u {WHERE} {text}{text_or_null} {status}"
            ))
            .bind(tenant.id)
            .bind(&value)
            .bind(search.group_id)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?,
            None => 0,
        };
        Ok(UserPage {
            total,
            users: rows.decoded(user_from_row)?,
        })
    }

    /// Every user, a page at a time: the count and the page each from an index (a
    /// window count would read and sort every row for each page).
    async fn browse_staged_users(
        &self,
        tenant: &Tenant,
        search: &UserSearch<'_>,
    ) -> Result<UserPage> {
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM staged_users WHERE tenant_id = $1")
            .bind(tenant.id)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        // The page's keys are found on the (tenant, userName) index alone; only its rows
        // are read. The numbers are written into the SQL, not bound, and the statement is
        // not kept: PostgreSQL then plans for this offset, where a plan kept for any offset
        // may sort the whole table instead.
        let (limit, offset) = (search.limit.clamp(1, 1000), search.offset.max(0));
        let rows = sqlx::query(&format!(
            "SELECT u.id, u.external_id, u.created_at, u.body FROM staged_users u
             JOIN (SELECT pk FROM staged_users WHERE tenant_id = $1
                   ORDER BY user_name_folded LIMIT {limit} OFFSET {offset}) page ON page.pk = u.pk
             ORDER BY u.user_name_folded"
        ))
        .persistent(false)
        .bind(tenant.id)
        .fetch_all(&self.pool)
        .await?;
        Ok(UserPage {
            total,
            users: rows.decoded(user_from_row)?,
        })
    }

    /// The tenant's groups to browse by, `(id, display name)`, by name.
    pub async fn staged_group_names(&self, tenant: &Tenant) -> Result<Vec<(String, String)>> {
        let groups = self.staged_group_labels(tenant).await?;
        Ok(groups.into_iter().map(|(id, name, _)| (id, name)).collect())
    }

    /// Every staged group as `(id, display name, externalId)`, by name.
    pub async fn staged_group_labels(
        &self,
        tenant: &Tenant,
    ) -> Result<Vec<(String, String, Option<String>)>> {
        sqlx::query(
            "SELECT id, external_id, body FROM staged_groups WHERE tenant_id = $1
             ORDER BY display_name_folded, id",
        )
        .bind(tenant.id)
        .fetch_all(&self.pool)
        .await?
        .decoded(|row| {
            let body: String = row.try_get("body")?;
            let name = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|b| b["displayName"].as_str().map(str::to_owned))
                .unwrap_or_default();
            Ok((row.try_get("id")?, name, row.try_get("external_id")?))
        })
    }
}

/// The holding area in numbers, for the Overview page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldingSummary {
    pub users: i64,
    pub groups: i64,
    /// When the identity provider last changed a user or group (RFC 3339).
    pub last_change: Option<String>,
    /// Of up to 100 users' externalIds, how many look like Entra objectIds (GUIDs).
    pub sampled_external_ids: i64,
    pub guid_external_ids: i64,
}

/// `8-4-4-4-12` hex digits: how Entra's objectId reads.
fn looks_like_guid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl Store {
    /// How many rows of the tenant `table` holds, and its latest `modified_at`.
    async fn count_and_last(&self, tenant: &Tenant, table: &str) -> Result<(i64, Option<String>)> {
        let row = sqlx::query(&format!(
            "SELECT COUNT(*), MAX(modified_at) FROM {table} WHERE tenant_id = $1"
        ))
        .bind(tenant.id)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    pub async fn holding_summary(&self, tenant: &Tenant) -> Result<HoldingSummary> {
        let (users, users_changed) = self.count_and_last(tenant, "staged_users").await?;
        let (groups, groups_changed) = self.count_and_last(tenant, "staged_groups").await?;
        let last = [users_changed, groups_changed].into_iter().flatten().max();
        let sample: Vec<Option<String>> = sqlx::query(
            "SELECT external_id FROM staged_users WHERE tenant_id = $1 ORDER BY pk LIMIT 100",
        )
        .bind(tenant.id)
        .fetch_all(&self.pool)
        .await?
        .decoded(|row| Ok(row.try_get(0)?))?;
        Ok(HoldingSummary {
            users,
            groups,
            last_change: last,
            sampled_external_ids: sample.len() as i64,
            guid_external_ids: sample
                .iter()
                .flatten()
                .filter(|x| looks_like_guid(x))
                .count() as i64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_object_ids_are_recognised() {
        assert!(looks_like_guid("7d0c5d8e-3a1f-4f57-9c4e-2b1e9a6f0c11"));
        assert!(!looks_like_guid("emp-00042"));
        assert!(!looks_like_guid("7d0c5d8e-3a1f-4f57-9c4e-2b1e9a6f0c1z"));
    }

    #[test]
    fn patterns_take_wildcards_literally() {
        assert_eq!(contains_pattern("Ann"), "%ann%");
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
