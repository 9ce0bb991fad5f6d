//! The audit log's rows: recorded after each admin change, listed newest first with
//! filters and keyset paging (`before` an id).

use crate::columns::Decoded;
use crate::{Result, Store, Tenant};
use scimgate_core::{Actor, AuditEntry, AuditRecord};
use sqlx::Row;

/// Which entries to list. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The action's area (`rules`, `settings`, …): the part before the dot.
    pub area: String,
    /// Exactly this actor.
    pub who: String,
    /// From this time on (an RFC 3339 prefix: `2026-12-07` or a full timestamp).
    pub since: String,
    /// Before this time (same form; `2026-12-08` ends with the 7th).
    pub until: String,
    /// Text found in the subject, case-insensitively.
    pub text: String,
    /// Entries older than this id (the next page).
    pub before_id: Option<i64>,
    /// At most this many (capped at 1,000).
    pub limit: i64,
}

/// `text` inside a LIKE pattern (with `ESCAPE '\\'`), matching itself only.
fn literal(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// `text` as a LIKE pattern that matches it anywhere, case-insensitively (with LOWER).
fn contains_pattern(text: &str) -> String {
    format!("%{}%", literal(&text.to_lowercase()))
}

enum Bound {
    Int(i64),
    Text(String),
}

fn entry_from(row: &sqlx::any::AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        who: row.try_get("who")?,
        via: row.try_get("via")?,
        from: row.try_get("source")?,
        action: row.try_get("action")?,
        subject: row.try_get("subject")?,
        before: row.try_get("before")?,
        after: row.try_get("after")?,
    })
}

impl Store {
    /// Records a change in `tenant`'s log (`None`: in no tenant's, e.g. a sign-in with an
    /// unknown name).
    pub async fn record_audit(
        &self,
        tenant: Option<&Tenant>,
        actor: &Actor,
        record: &AuditRecord,
        now: &str,
    ) -> Result<()> {
        let (tenant_id, actor, record, now) = (
            tenant.map(|t| t.id),
            actor.clone(),
            record.clone(),
            now.to_owned(),
        );
        self.write_conn(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO audit_log
                        (tenant_id, at, who, via, source, action, subject, before, after)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(tenant_id)
                .bind(&now)
                .bind(&actor.who)
                .bind(actor.via.name())
                .bind(&actor.from)
                .bind(record.action.name())
                .bind(&record.subject)
                .bind(&record.before)
                .bind(&record.after)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// `tenant`'s entries (`None`: those of no tenant), newest first.
    pub async fn audit_log(
        &self,
        tenant: Option<&Tenant>,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>> {
        let mut sql = String::from(
            "SELECT id, at, who, via, source, action, subject, before, after FROM audit_log WHERE ",
        );
        // Each filter adds its condition and its value, numbered in order.
        let mut binds: Vec<Bound> = Vec::new();
        let mut condition = |sql: &mut String, template: &str, value: Bound| {
            binds.push(value);
            sql.push_str(&template.replace('?', &format!("${}", binds.len())));
        };
        match tenant {
            Some(tenant) => condition(&mut sql, "tenant_id = ?", Bound::Int(tenant.id)),
            None => sql.push_str("tenant_id IS NULL"),
        }
        if !filter.area.is_empty() {
            let area = format!("{}.%", literal(&filter.area));
            condition(
                &mut sql,
                " AND action LIKE ? ESCAPE '\\'",
                Bound::Text(area),
            );
        }
        if !filter.who.is_empty() {
            condition(&mut sql, " AND who = ?", Bound::Text(filter.who.clone()));
        }
        if !filter.since.is_empty() {
            condition(&mut sql, " AND at >= ?", Bound::Text(filter.since.clone()));
        }
        if !filter.until.is_empty() {
            condition(&mut sql, " AND at < ?", Bound::Text(filter.until.clone()));
        }
        if !filter.text.is_empty() {
            let pattern = Bound::Text(contains_pattern(&filter.text));
            condition(&mut sql, " AND LOWER(subject) LIKE ? ESCAPE '\\'", pattern);
        }
        if let Some(before) = filter.before_id {
            condition(&mut sql, " AND id < ?", Bound::Int(before));
        }
        let limit = filter.limit.clamp(1, 1000);
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
        let mut query = sqlx::query(&sql);
        for value in binds {
            query = match value {
                Bound::Int(v) => query.bind(v),
                Bound::Text(v) => query.bind(v),
            };
        }
        query.fetch_all(&self.pool).await?.decoded(entry_from)
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn a_searched_text_matches_literally() {
        assert_eq!(contains_pattern("50%_A\\"), "%50\\%\\_a\\\\%");
    }
}
