//! Welcome e-mails: one per account a sync created, to its primary address, through the
//! outbox. The sync offers every account created since the tenant switched welcome
//! e-mails on; those not in `welcome_sent` get one. So a run that stopped before
//! recording them is made good by the next run, and no account gets two.

use crate::Result;
use scimgate_store::Tenant;
use serde_json::json;
use sqlx::Row;

/// An account that may be owed a welcome e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub pk: i64,
    pub username: String,
    pub display_name: Option<String>,
    pub email: String,
}

/// Queues a welcome e-mail for each account in `owed` that has not had one, on `conn`
/// inside the run's final transaction. The caller passes every active account with an
/// address created since welcome e-mails were switched on (the CRM target is the one
/// that knows them); `welcome_sent` makes sure none gets two. Returns how many were
/// queued.
pub async fn record_pending(
    conn: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    owed: &[NewAccount],
    sign_in_url: &str,
    now_ms: i64,
    now: &str,
) -> Result<u64> {
    if owed.is_empty() {
        return Ok(0);
    }
    let sent: std::collections::HashSet<i64> =
        sqlx::query("SELECT account_pk FROM welcome_sent WHERE tenant_id = $1")
            .bind(tenant.id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, sqlx::Error>>()?;
    let mut queued = 0;
    for account in owed.iter().filter(|a| !sent.contains(&a.pk)) {
        let first = sqlx::query(
            "INSERT INTO welcome_sent (tenant_id, account_pk) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.id)
        .bind(account.pk)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if first == 0 {
            continue;
        }
        let name = account.display_name.as_deref().unwrap_or(&account.username);
        let payload = message(name, &account.username, sign_in_url);
        sqlx::query(
            "INSERT INTO outbox (tenant_id, subscription_id, channel, target, event, payload, status,
                attempts, next_attempt_at, lease_until, created_at)
             VALUES ($1, NULL, 'email', $2, 'welcome', $3, 'pending', 0, $4, 0, $5)",
        )
        .bind(tenant.id)
        .bind(&account.email)
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
