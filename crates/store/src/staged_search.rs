//! The holding area as the admin browses it: users found by a text (userName, display
//! name, e-mail or externalId, case-insensitive, anywhere in the value), narrowed to one
//! group's members, a page at a time, counted, all in SQL so 100,000 users are never
//! loaded to show fifty; and the groups to browse by.

use crate::columns::Decoded;
use crate::snapshot::user_from_row;
use crate::{Result, Store, Tenant};
use scimgate_core::text::fold_case;
use scimgate_core::StagedUser;
use sqlx::Row;

/// What the Users page asks for.
#[derive(Debug, Clone, Default)]
pub struct UserSearch<'a> {
    pub text: Option<&'a str>,
    /// A group's id: only its direct members.
    pub group_id: Option<&'a str>,
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

/// The search's conditions; `$2` is the pattern (or NULL), `$3` the group (or NULL).
const WHERE: &str = "WHERE u.tenant_id = $1
    AND ($2 IS NULL OR u.user_name_folded LIKE $2 ESCAPE '\\' OR u.display_name_folded LIKE $2 ESCAPE '\\'
         OR u.emails_folded LIKE $2 ESCAPE '\\' OR LOWER(COALESCE(u.external_id, '')) LIKE $2 ESCAPE '\\')
    AND ($3 IS NULL OR EXISTS (SELECT 1 FROM staged_group_members m
         WHERE m.tenant_id = u.tenant_id AND m.group_id = $3 AND m.member_id = u.id))";

impl Store {
    /// A page of the tenant's staged users that match, by userName.
    pub async fn search_staged_users(
        &self,
        tenant: &Tenant,
        search: &UserSearch<'_>,
    ) -> Result<UserPage> {
        let pattern = search
            .text
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(contains_pattern);
        let rows = sqlx::query(&format!(
            "SELECT u.id, u.external_id, u.created_at, u.body, COUNT(*) OVER () AS total
             FROM staged_users u {WHERE} ORDER BY u.user_name_folded LIMIT $4 OFFSET $5"
        ))
        .bind(tenant.id)
        .bind(&pattern)
        .bind(search.group_id)
        .bind(search.limit)
        .bind(search.offset)
        .fetch_all(&self.pool)
        .await?;
        let total = match rows.first() {
            Some(row) => row.try_get("total")?,
            // Past the end (or an empty page): the count needs its own query.
            None if search.offset > 0 => {
                sqlx::query(&format!("SELECT COUNT(*) FROM staged_users u {WHERE}"))
                    .bind(tenant.id)
                    .bind(&pattern)
                    .bind(search.group_id)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?
            }
            None => 0,
        };
        Ok(UserPage {
            total,
            users: rows.decoded(user_from_row)?,
        })
    }

    /// The tenant's groups to browse by, `(id, display name)`, by name.
    pub async fn staged_group_names(&self, tenant: &Tenant) -> Result<Vec<(String, String)>> {
        sqlx::query(
            "SELECT id, body FROM staged_groups WHERE tenant_id = $1 ORDER BY display_name_folded, id",
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
            Ok((row.try_get("id")?, name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_take_wildcards_literally() {
        assert_eq!(contains_pattern("Ann"), "%ann%");
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
