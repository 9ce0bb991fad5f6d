//! The catalogue: read it, replace it, add or remove one entry — each refused (changing
//! nothing) when the saved rule set would no longer compile against the result.

use crate::{App, AppError, Result};
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
        self.edit_catalog(tenant, expect, CatalogEdit::Replace(catalog))
            .await
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
        self.edit_catalog(tenant, expect, edit).await
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
        match self.edit_catalog(tenant, expect, edit).await {
            Err(AppError::NotFound(_)) => Err(AppError::NotFound(format!(
                "the catalogue has no {} named {name:?}",
                kind.name()
            ))),
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
