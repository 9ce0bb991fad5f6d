//! The tenant's saved rule set, and the writes that must agree with it: a rule set is
//! saved only if it compiles against the catalogue, and the catalogue changes only if
//! the saved rule set still compiles against the result. Each check runs inside the
//! write's transaction, after the catalogue's version row is locked (see [`crate::edits`]),
//! so a rule change and a catalogue change cannot both pass against each other's old state.

use crate::edits::{self, Aggregate, Expect, Versioned};
use crate::rule_versions::{self, Publication};
use crate::{catalog, Result, Store, StoreError, Tenant};
use scimgate_core::{Catalog, CatalogKind, RuleSource};
use sqlx::{AnyConnection, Row};

/// A change to the catalogue.
#[derive(Debug, Clone)]
pub enum CatalogEdit {
    Replace(Catalog),
    /// Adds an entry, or sets the seats of an existing one.
    Put {
        kind: CatalogKind,
        name: String,
        seats: Option<u64>,
    },
    /// Removes an entry; [`StoreError::NotFound`] if there is none.
    Delete {
        kind: CatalogKind,
        name: String,
    },
}

impl CatalogEdit {
    fn applied_to(self, mut catalog: Catalog) -> Result<Catalog> {
        use scimgate_core::{CatalogEntry, NamedEntry};
        match self {
            CatalogEdit::Replace(new) => return Ok(new),
            CatalogEdit::Put { kind, name, seats } => {
                let entry = match seats {
                    Some(_) => CatalogEntry::Entry(NamedEntry {
                        name: name.clone(),
                        seats,
                    }),
                    None => CatalogEntry::Name(name.clone()),
                };
                let entries = catalog.entries_mut(kind);
                match entries.iter_mut().find(|e| e.name() == name) {
                    Some(existing) => *existing = entry,
                    None => entries.push(entry),
                }
            }
            CatalogEdit::Delete { kind, name } => {
                let entries = catalog.entries_mut(kind);
                let before = entries.len();
                entries.retain(|e| e.name() != name);
                if entries.len() == before {
                    return Err(StoreError::NotFound);
                }
            }
        }
        Ok(catalog)
    }
}

async fn read(conn: &mut AnyConnection, tenant: &Tenant) -> Result<Option<RuleSource>> {
    let Some(row) = sqlx::query("SELECT yaml, scripts FROM rule_sets WHERE tenant_id = $1")
        .bind(tenant.id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let scripts: String = row.try_get("scripts")?;
    Ok(Some(RuleSource {
        yaml: row.try_get("yaml")?,
        scripts: serde_json::from_str(&scripts)
            .map_err(|e| StoreError::Corrupt(format!("saved scripts: {e}")))?,
    }))
}

impl Store {
    /// The saved rule set (`None`: none saved yet) and its version.
    pub async fn rule_set(&self, tenant: &Tenant) -> Result<Versioned<Option<RuleSource>>> {
        let mut conn = self.pool.acquire().await?;
        let value = read(&mut conn, tenant).await?;
        let version = edits::current(&mut conn, tenant, Aggregate::RuleSet)
            .await?
            .0;
        Ok(Versioned { version, value })
    }

    /// The catalogue and its version.
    pub async fn catalog_versioned(&self, tenant: &Tenant) -> Result<Versioned<Catalog>> {
        let mut conn = self.pool.acquire().await?;
        let value = catalog::read(&mut conn, tenant).await?;
        let version = edits::current(&mut conn, tenant, Aggregate::Catalog)
            .await?
            .0;
        Ok(Versioned { version, value })
    }

    /// Publishes `source` as a whole (not through the draft) if `check` accepts it against
    /// the catalogue (it compiles the rules and returns what it compiled), keeping it as a
    /// new version; changes nothing otherwise.
    pub async fn save_rule_set<T, E>(
        &self,
        tenant: &Tenant,
        expect: Expect,
        source: RuleSource,
        publication: Publication,
        now: String,
        check: impl FnOnce(&Catalog) -> std::result::Result<T, E> + Send + 'static,
    ) -> std::result::Result<Versioned<T>, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let tenant = tenant.clone();
        self.write_conn(move |conn| {
            Box::pin(async move {
                edits::lock(conn, &tenant, Aggregate::Catalog).await?;
                let version = edits::bump(conn, &tenant, Aggregate::RuleSet, expect, &now).await?;
                let catalog = catalog::read(conn, &tenant).await?;
                let value = check(&catalog)?;
                rule_versions::write_published(conn, &tenant, &source, &now).await?;
                rule_versions::keep_version(conn, &tenant, version, &source, &publication, &now)
                    .await?;
                Ok(Versioned { version, value })
            })
        })
        .await
    }

    /// Changes the catalogue if `check` accepts the saved rule set (if any) against the
    /// result; changes nothing otherwise. Returns the catalogue as changed.
    pub async fn edit_catalog<E>(
        &self,
        tenant: &Tenant,
        expect: Expect,
        edit: CatalogEdit,
        now: String,
        check: impl FnOnce(Option<&RuleSource>, &Catalog) -> std::result::Result<(), E> + Send + 'static,
    ) -> std::result::Result<Versioned<Catalog>, E>
    where
        E: From<StoreError> + Send + 'static,
    {
        let tenant = tenant.clone();
        self.write_conn(move |conn| {
            Box::pin(async move {
                let version = edits::bump(conn, &tenant, Aggregate::Catalog, expect, &now).await?;
                let before = catalog::read(conn, &tenant).await?;
                let after = edit.applied_to(before)?;
                let rules = read(conn, &tenant).await?;
                check(rules.as_ref(), &after)?;
                catalog::replace(conn, &tenant, &after).await?;
                let value = catalog::read(conn, &tenant).await?;
                Ok(Versioned { version, value })
            })
        })
        .await
    }
}
