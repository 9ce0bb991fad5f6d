//! A stored preview's rows as the database holds them: the columns, reading a row back,
//! and writing a generation's rows (a direct SQLite connection, or one JSON array per
//! statement).

use super::query::changed_text;
use super::{PreviewRow, PreviewRules};
use crate::columns::Columns;
use crate::json_rows::{self, integer, text};
use crate::Result;
use scimgate_core::text::fold_case;
use sqlx::AnyConnection;

pub(super) const ROW_COLUMNS: &str =
    "user_id, staged, action, synced, name, username, email, external_id,
    user_plan, owner_company, primary_group, secondary_groups, role, confidential, changed,
    reason, account_plan, set_by";

pub(super) fn row_from(row: &impl Columns) -> Result<PreviewRow> {
    let changed: String = row.get("changed")?;
    let groups: Option<String> = row.get("secondary_groups")?;
    let confidential: Option<String> = row.get("confidential")?;
    Ok(PreviewRow {
        user_id: row.get("user_id")?,
        staged: row.get::<i64>("staged")? != 0,
        action: row.get("action")?,
        synced: row.get::<i64>("synced")? != 0,
        name: row.get("name")?,
        username: row.get("username")?,
        email: row.get("email")?,
        external_id: row.get("external_id")?,
        user_plan: row.get("user_plan")?,
        owner_company: row.get("owner_company")?,
        primary_group: row.get("primary_group")?,
        secondary_groups: groups
            .map(|g| serde_json::from_str(&g))
            .transpose()
            .map_err(|e| crate::StoreError::Corrupt(format!("preview secondary groups: {e}")))?,
        role: row.get("role")?,
        confidential: confidential.map(|c| c == "true"),
        changed: changed
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        reason: row.get("reason")?,
        account_plan: row.get("account_plan")?,
        set_by: row.get("set_by")?,
    })
}

/// What a row stores, in the order of [`INSERT_COLUMNS`] after the tenant, rule set and
/// generation: the values, then their case-folded copies.
fn row_values(row: &PreviewRow) -> [Option<String>; VALUES] {
    // Stored as a JSON array (a group's name may hold ", "); compared as joined text.
    let stored_groups = row
        .secondary_groups
        .as_ref()
        .map(|g| serde_json::Value::from(g.clone()).to_string());
    let groups = row.secondary_groups.as_ref().map(|g| g.join(", "));
    let folded = |v: &Option<String>| Some(v.as_deref().map(fold_case).unwrap_or_default());
    [
        Some(row.user_id.clone()),
        Some(i64::from(row.staged).to_string()),
        Some(row.action.clone()),
        Some(i64::from(row.synced).to_string()),
        row.name.clone(),
        Some(row.username.clone()),
        row.email.clone(),
        row.external_id.clone(),
        row.user_plan.clone(),
        row.owner_company.clone(),
        row.primary_group.clone(),
        stored_groups,
        row.role.clone(),
        row.confidential.map(|c| c.to_string()),
        Some(changed_text(&row.changed)),
        row.reason.clone(),
        row.account_plan.clone(),
        row.set_by.clone(),
        folded(&row.name),
        Some(fold_case(&row.username)),
        folded(&row.email),
        folded(&row.external_id),
        folded(&row.user_plan),
        folded(&row.owner_company),
        folded(&row.primary_group),
        folded(&groups),
        folded(&row.role),
        folded(&row.reason),
        folded(&row.set_by),
    ]
}

/// Values a row stores besides the tenant, rule set and generation.
const VALUES: usize = 29;

const INSERT_COLUMNS: &str = "tenant_id, rules, generation, user_id, staged, action,
    synced, name, username, email, external_id, user_plan, owner_company,
    primary_group, secondary_groups, role, confidential, changed, reason,
    account_plan, set_by, name_k, username_k, email_k, external_id_k, user_plan_k,
    owner_company_k, primary_group_k, secondary_groups_k, role_k, reason_k, set_by_k";

/// [`insert_rows`] on a direct SQLite connection: one prepared statement, values bound
/// natively (staged and synced as integers).
pub(super) fn insert_rows_sqlite(
    tx: &rusqlite::Transaction<'_>,
    tenant_id: i64,
    rules: PreviewRules,
    generation: i64,
    rows: &[PreviewRow],
) -> Result<()> {
    let params: Vec<String> = (1..=VALUES + 3).map(|n| format!("?{n}")).collect();
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO preview_rows ({INSERT_COLUMNS}) VALUES ({})",
        params.join(", ")
    ))?;
    let rules = rules.name();
    for row in rows {
        let values = row_values(row);
        let mut bound: Vec<&dyn rusqlite::ToSql> = vec![&tenant_id, &rules, &generation];
        let staged = i64::from(row.staged);
        let synced = i64::from(row.synced);
        for (n, value) in values.iter().enumerate() {
            match n {
                1 => bound.push(&staged),
                3 => bound.push(&synced),
                _ => bound.push(value),
            }
        }
        insert.execute(rusqlite::params_from_iter(bound))?;
    }
    Ok(())
}

pub(super) async fn insert_rows(
    conn: &mut AnyConnection,
    tenant_id: i64,
    rules: PreviewRules,
    generation: i64,
    rows: &[PreviewRow],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // One JSON array bound once (crate::json_rows): a whole preview is millions of values.
    let values: Vec<String> = (0..VALUES)
        .map(|n| {
            if n == 1 || n == 3 {
                integer(n)
            } else {
                text(n)
            }
        })
        .collect();
    let sql = format!(
        "INSERT INTO preview_rows ({INSERT_COLUMNS}) SELECT $1, $2, $3, {} FROM {}",
        values.join(", "),
        json_rows::source(conn, 4),
    );
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| serde_json::Value::from(row_values(row).to_vec()))
        .collect();
    sqlx::query(&sql)
        .bind(tenant_id)
        .bind(rules.name())
        .bind(generation)
        .bind(serde_json::Value::Array(json).to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}
