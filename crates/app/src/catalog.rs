//! The catalogue: read it, replace it, add or remove one entry — each refused (changing
//! nothing) when the saved rule set would no longer compile against the result.

use crate::audit::json;
use crate::{App, AppError, Result};
use scimgate_core::AuditAction;
use scimgate_core::{Catalog, CatalogKind, RuleSource, Tenant};
use scimgate_store::{CatalogEdit, Expect, Versioned};

impl App {
    pub async fn catalog(&self, tenant: &Tenant) -> Result<Versioned<Catalog>> {
        Ok(self.store.catalog_versioned(tenant).await?)
    }

    pub async fn replace_catalog(
        &self,
        tenant: &Tenant,
        expect: Expect,
        catalog: Catalog,
    ) -> Result<Versioned<Catalog>> {
        let before = self.catalog(tenant).await?.value;
        let saved = (self.edit_catalog(tenant, expect, CatalogEdit::Replace(catalog))).await?;
        let subject = format!("catalogue, version {}", saved.version);
        let after = json(&saved.value);
        (self.audit(
            tenant,
            AuditAction::CatalogReplace,
            subject,
            json(&before),
            after,
        ))
        .await;
        Ok(saved)
    }

    /// Adds an entry, or sets the seats of an existing one.
    pub async fn put_catalog_entry(
        &self,
        tenant: &Tenant,
        expect: Expect,
        kind: CatalogKind,
        name: &str,
        seats: Option<u64>,
    ) -> Result<Versioned<Catalog>> {
        let edit = CatalogEdit::Put {
            kind,
            name: name.to_owned(),
            seats,
        };
        let before = self.catalog(tenant).await?.value;
        let before = entry_of(&before, kind, name);
        let saved = self.edit_catalog(tenant, expect, edit).await?;
        let after = entry_of(&saved.value, kind, name);
        let subject = format!("{} {name:?}", kind.name());
        (self.audit(tenant, AuditAction::CatalogPut, subject, before, after)).await;
        Ok(saved)
    }

    pub async fn delete_catalog_entry(
        &self,
        tenant: &Tenant,
        expect: Expect,
        kind: CatalogKind,
        name: &str,
    ) -> Result<Versioned<Catalog>> {
        let edit = CatalogEdit::Delete {
            kind,
            name: name.to_owned(),
        };
        let before = self.catalog(tenant).await?.value;
        let before = entry_of(&before, kind, name);
        match self.edit_catalog(tenant, expect, edit).await {
            Err(AppError::NotFound(_)) => Err(AppError::NotFound(format!(
                "the catalogue has no {} named {name:?}",
                kind.name()
            ))),
            Ok(saved) => {
                let subject = format!("{} {name:?}", kind.name());
                (self.audit(tenant, AuditAction::CatalogDelete, subject, before, None)).await;
                Ok(saved)
            }
            other => other,
        }
    }

    async fn edit_catalog(
        &self,
        tenant: &Tenant,
        expect: Expect,
        edit: CatalogEdit,
    ) -> Result<Versioned<Catalog>> {
        self.store
            .edit_catalog(tenant, expect, edit, self.now(), rules_still_compile)
            .await
    }
}

/// A catalogue the saved rule set cannot compile against (a rule names a plan, company,
/// group or role it lacks) is refused: changing the catalogue first would make every
/// preview and sync fail until the rules are changed.
fn rules_still_compile(rules: Option<&RuleSource>, catalog: &Catalog) -> Result<()> {
    let Some(source) = rules else {
        return Ok(());
    };
    match scimgate_rules::compile(source, catalog) {
        Ok(_) => Ok(()),
        Err(problems) => Err(AppError::Conflict(format!(
            "the saved rule set needs what this change removes; change the rules first:\n{}",
            scimgate_rules::problems_text(&problems)
        ))),
    }
}

/// One entry of `catalog` as the audit log keeps it (`None`: there is none).
fn entry_of(catalog: &Catalog, kind: CatalogKind, name: &str) -> Option<String> {
    let entries = match kind {
        CatalogKind::UserPlan => &catalog.user_plans,
        CatalogKind::Company => &catalog.companies,
        CatalogKind::Group => &catalog.groups,
        CatalogKind::Role => &catalog.roles,
    };
    let entry = entries.iter().find(|e| e.name() == name)?;
    json(&serde_json::json!({ "name": entry.name(), "seats": entry.seats() }))
}
