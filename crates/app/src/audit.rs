//! Who changed what: every change an operation makes is recorded in the tenant's audit
//! log with the actor the front end named ([`App::acting_as`]): the signed-in account
//! and its address (web UI), the admin token (API), the operating-system user (CLI).
//!
//! The entry is written right after the change commits, in its own transaction: a
//! failure to write it is logged (with what it would have said) and does not turn a
//! committed change into an error. A crash between the two loses the entry, not the
//! change.

use crate::{App, AppError, Result};
use scimgate_core::{Actor, AdminAccount, AuditAction, AuditEntry, AuditRecord, Tenant};
use scimgate_store::AuditFilter;
use serde::Serialize;

/// `value` as the JSON an entry keeps as its before or after.
pub(crate) fn json(value: &impl Serialize) -> Option<String> {
    serde_json::to_string(value).ok()
}

impl App {
    /// The same application, recording its changes as made by `actor`.
    pub fn acting_as(&self, actor: Actor) -> App {
        App {
            actor,
            ..self.clone()
        }
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Records a change in `tenant`'s log.
    pub(crate) async fn audit(
        &self,
        tenant: &Tenant,
        action: AuditAction,
        subject: impl Into<String>,
        before: Option<String>,
        after: Option<String>,
    ) {
        let record = AuditRecord {
            action,
            subject: subject.into(),
            before,
            after,
        };
        self.write_audit(Some(tenant), record).await;
    }

    async fn write_audit(&self, tenant: Option<&Tenant>, record: AuditRecord) {
        let now = self.now();
        if let Err(e) = (self.store)
            .record_audit(tenant, &self.actor, &record, &now)
            .await
        {
            tracing::error!(
                error = %e,
                tenant = tenant.map(|t| t.name.as_str()).unwrap_or(""),
                who = %self.actor.who,
                action = %record.action,
                subject = %record.subject,
                "an audit entry could not be written"
            );
        }
    }

    /// A sign-in (or a refused one) of `name`, in each tenant the account sees; a name
    /// that is no account is recorded in no tenant's log.
    pub(crate) async fn audit_sign_in(&self, name: &str, account: Option<&AdminAccount>, ok: bool) {
        let action = match ok {
            true => AuditAction::SignIn,
            false => AuditAction::SignInFailed,
        };
        // A name typed at the sign-in form: kept short, whatever was typed.
        let name: String = name.chars().take(64).collect();
        let record = AuditRecord {
            action,
            subject: format!("account {name}"),
            before: None,
            after: None,
        };
        // The actor is the typed name too: short here as well.
        let app = self.acting_as(Actor {
            who: self.actor.who.chars().take(64).collect(),
            ..self.actor.clone()
        });
        let Some(account) = account else {
            return app.write_audit(None, record).await;
        };
        for tenant_name in &account.tenants {
            match self.store.tenant(tenant_name).await {
                Ok(Some(tenant)) => app.write_audit(Some(&tenant), record.clone()).await,
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "an audit entry could not be written"),
            }
        }
    }

    /// `tenant`'s audit log, newest first; a filter naming no area, or a time that is no
    /// date, is refused.
    pub async fn audit_log(
        &self,
        tenant: &Tenant,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>> {
        check_filter(filter)?;
        Ok(self.store.audit_log(Some(tenant), filter).await?)
    }

    /// The entries of no tenant (sign-ins with names that are no account).
    pub async fn audit_log_outside_tenants(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        check_filter(filter)?;
        Ok(self.store.audit_log(None, filter).await?)
    }
}

fn check_filter(filter: &AuditFilter) -> Result<()> {
    if !filter.area.is_empty() && !AuditAction::AREAS.contains(&filter.area.as_str()) {
        return Err(AppError::Invalid(format!(
            "area {:?} is not one of: {}",
            filter.area,
            AuditAction::AREAS.join(", ")
        )));
    }
    for (name, time) in [("since", &filter.since), ("until", &filter.until)] {
        if !time.is_empty() && !is_date_prefix(time) {
            return Err(AppError::Invalid(format!(
                "{name} {time:?} is not a date (2026-12-07) or an RFC 3339 time in UTC"
            )));
        }
    }
    Ok(())
}

/// `2026-12-07`, optionally followed by `T` and a time: entries are stamped in UTC RFC
/// 3339, so such a prefix compares as text in time order.
fn is_date_prefix(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
    };
    let date = digits(0..4)
        && bytes.get(4) == Some(&b'-')
        && digits(5..7)
        && bytes.get(7) == Some(&b'-')
        && digits(8..10);
    let rest = text.get(10..).unwrap_or("");
    date && (rest.is_empty() || (rest.starts_with('T') && rest.is_ascii()))
}

/// The entries as CSV, with a header line (formula-safe: scimgate_core::csv).
pub fn audit_csv(entries: &[AuditEntry]) -> String {
    let mut out = scimgate_core::csv::row(&[
        "id", "at", "who", "via", "from", "action", "subject", "before", "after",
    ]);
    out.push_str("\r\n");
    for e in entries {
        out.push_str(&scimgate_core::csv::row(&[
            e.id.to_string().as_str(),
            &e.at,
            &e.who,
            &e.via,
            &e.from,
            &e.action,
            &e.subject,
            e.before.as_deref().unwrap_or(""),
            e.after.as_deref().unwrap_or(""),
        ]));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::is_date_prefix;

    #[test]
    fn times_are_dates_or_rfc3339_prefixes() {
        assert!(is_date_prefix("2026-12-07"));
        assert!(is_date_prefix("2026-12-07T10:00"));
        assert!(!is_date_prefix("07.12.2026"));
        assert!(!is_date_prefix("2026-12-07 10:00"));
        assert!(!is_date_prefix("2026-1"));
    }
}
