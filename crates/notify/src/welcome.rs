//! Welcome e-mails: one per account a sync created, to its primary address, through the
//! outbox. Which accounts still need one is read from the database (created since the
//! tenant switched welcome e-mails on, and not in `welcome_sent`), so a run that stopped
//! before recording them is made good by the next run, and no account gets two.

use crate::Result;
use scimgate_store::Tenant;
use serde_json::json;
use sqlx::Row;

/// Queues the welcome e-mails still owed, on `conn` inside the run's final transaction.
/// Returns how many were queued.
pub async fn record_pending(
    conn: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    since: &str,
    sign_in_url: &str,
    now_ms: i64,
    now: &str,
) -> Result<u64> {
    let owed = sqlx::query(
        "SELECT pk, username, display_name, email FROM crm_accounts a
         WHERE tenant_id = $1 AND active = 1 AND email IS NOT NULL AND email <> ''
           AND created_at >= $2
           AND NOT EXISTS (SELECT 1 FROM welcome_sent w WHERE w.tenant_id = a.tenant_id AND w.account_pk = a.pk)
         ORDER BY pk",
    )
    .bind(tenant.id)
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    let mut queued = 0;
    for row in owed {
        let pk: i64 = row.try_get("pk")?;
        let username: String = row.try_get("username")?;
        let name: Option<String> = row.try_get("display_name")?;
        let email: String = row.try_get("email")?;
        let first = sqlx::query(
            "INSERT INTO welcome_sent (tenant_id, account_pk) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.id)
        .bind(pk)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if first == 0 {
            continue;
        }
        let payload = message(name.as_deref().unwrap_or(&username), &username, sign_in_url);
        sqlx::query(
            "INSERT INTO outbox (tenant_id, subscription_id, channel, target, event, payload, status,
                attempts, next_attempt_at, lease_until, created_at)
             VALUES ($1, NULL, 'email', $2, 'welcome', $3, 'pending', 0, $4, 0, $5)",
        )
        .bind(tenant.id)
        .bind(&email)
        .bind(payload.to_string())
        .bind(now_ms)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        queued += 1;
    }
    Ok(queued)
}

fn message(name: &str, username: &str, sign_in_url: &str) -> serde_json::Value {
    let escape = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    json!({
        "subject": "Welcome to the CRM",
        "text": format!(
            "Hello {name},\n\nYour CRM account is ready. Sign in at {sign_in_url} with your user name {username}.\n"
        ),
        "html": format!(
            "<p>Hello {},</p>\n<p>Your CRM account is ready. Sign in at <a href=\"{}\">{}</a> with your user name <b>{}</b>.</p>\n",
            escape(name), escape(sign_in_url), escape(sign_in_url), escape(username)
        ),
    })
}
