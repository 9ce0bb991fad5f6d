//! Welcome e-mails: one per account a sync created, to its primary address, through the
//! outbox. The sync offers every account created since the tenant switched welcome
//! e-mails on; those not in `welcome_sent` get one. So a run that stopped before
//! recording them is made good by the next run, and no account gets two.

use crate::Result;
use scimgate_core::Channel;
use scimgate_store::outbox::{self, NewMessage};
use scimgate_store::{Tenant, Tx};
use serde_json::json;

/// An account that may be owed a welcome e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub pk: i64,
    pub username: String,
    pub display_name: Option<String>,
    pub email: String,
}

/// Queues a welcome e-mail for each account in `owed` that has not had one, inside the
/// run's final transaction. The caller passes every active account with an address
/// created since welcome e-mails were switched on (the CRM target is the one that knows
/// them); the store's record of who was welcomed makes sure none gets two. Returns how
/// many were queued.
pub async fn record_pending(
    tx: &mut Tx<'_>,
    tenant: &Tenant,
    owed: &[NewAccount],
    sign_in_url: &str,
    now_ms: i64,
    now: &str,
) -> Result<u64> {
    if owed.is_empty() {
        return Ok(0);
    }
    let welcomed = outbox::welcomed_in(tx, tenant).await?;
    let mut queued = 0;
    for account in owed.iter().filter(|a| !welcomed.contains(&a.pk)) {
        if !outbox::mark_welcomed_in(tx, tenant, account.pk).await? {
            continue;
        }
        let name = account.display_name.as_deref().unwrap_or(&account.username);
        let welcome = NewMessage {
            subscription_id: None,
            channel: Channel::Email,
            target: account.email.clone(),
            event: "welcome".into(),
            payload: message(name, &account.username, sign_in_url).to_string(),
        };
        outbox::enqueue_in(tx, tenant, &welcome, now_ms, now).await?;
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
