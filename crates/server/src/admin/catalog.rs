//! The tenant's CRM catalogue: user plans (with seats), companies, groups, roles.

use super::auth::Admin;
use super::body::Document;
use super::error::{ApiError, Result};
use super::params::{Params, Segments};
use super::AdminState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use scimgate_crm::{CatalogKind, CrmError, CrmTarget};
use scimgate_rules::{Catalog, CatalogEntry};
use serde::Deserialize;
use serde_json::{json, Value};

fn seats(entry: &CatalogEntry) -> Option<u64> {
    match entry {
        CatalogEntry::Name(_) => None,
        CatalogEntry::Entry(e) => e.seats,
    }
}

/// The catalogue as the API shows it: every entry an object; user plans with `seats`
/// (`null` = no limit).
fn catalog_json(catalog: &Catalog) -> Value {
    let names = |entries: &[CatalogEntry]| -> Vec<Value> {
        entries.iter().map(|e| json!({"name": e.name()})).collect()
    };
    let plans: Vec<Value> = catalog
        .user_plans
        .iter()
        .map(|e| json!({"name": e.name(), "seats": seats(e)}))
        .collect();
    json!({
        "user_plans": plans,
        "companies": names(&catalog.companies),
        "groups": names(&catalog.groups),
        "roles": names(&catalog.roles),
    })
}

fn kind(text: &str) -> Result<CatalogKind> {
    CatalogKind::parse(text).ok_or_else(|| {
        let kinds: Vec<&str> = CatalogKind::ALL.iter().map(|k| k.name()).collect();
        ApiError::bad_request(format!(
            "unknown catalogue kind {text:?} (kinds: {})",
            kinds.join(", ")
        ))
    })
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn get(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
) -> Result<Json<Value>> {
    params.only(&[])?;
    let catalog = state.syncer.crm().catalog(&admin.tenant).await?;
    Ok(Json(catalog_json(&catalog)))
}

/// Replaces the whole catalogue (JSON in the shape GET returns, or the YAML file).
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn replace(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
    body: Document,
) -> Result<Json<Value>> {
    params.only(&[])?;
    let catalog = match &body {
        Document::Yaml(text) => Catalog::from_yaml(text).map_err(ApiError::bad_request)?,
        Document::Json(_) => body
            .json::<Catalog>()
            .map_err(|e| ApiError::bad_request(format!("catalogue: {}", e.message)))?,
    };
    state
        .syncer
        .check_catalogue(&admin.tenant, &catalog)
        .await?;
    let crm = state.syncer.crm();
    crm.replace_catalog(&admin.tenant, &catalog).await?;
    Ok(Json(catalog_json(&crm.catalog(&admin.tenant).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryBody {
    #[serde(default)]
    seats: Option<u64>,
}

/// Adds one entry, or sets the seats of an existing one.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn put_entry(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
    body: Document,
) -> Result<Json<Value>> {
    params.only(&[])?;
    let kind = kind(path.get("kind")?)?;
    let name = path.get("name")?;
    let seats = body.json_or_empty::<EntryBody>()?.and_then(|b| b.seats);
    state
        .syncer
        .crm()
        .put_entry(&admin.tenant, kind, name, seats)
        .await?;
    Ok(Json(
        json!({"kind": kind.name(), "name": name, "seats": seats}),
    ))
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn delete_entry(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
) -> Result<StatusCode> {
    params.only(&[])?;
    let kind = kind(path.get("kind")?)?;
    let name = path.get("name")?;
    let mut remaining = state.syncer.crm().catalog(&admin.tenant).await?;
    let entries = match kind {
        CatalogKind::UserPlan => &mut remaining.user_plans,
        CatalogKind::Company => &mut remaining.companies,
        CatalogKind::Group => &mut remaining.groups,
        CatalogKind::Role => &mut remaining.roles,
    };
    entries.retain(|e| e.name() != name);
    state
        .syncer
        .check_catalogue(&admin.tenant, &remaining)
        .await?;
    match state
        .syncer
        .crm()
        .delete_entry(&admin.tenant, kind, name)
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(CrmError::NotFound) => Err(ApiError::not_found(format!(
            "the catalogue has no {} named {name:?}",
            kind.name()
        ))),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_shows_every_entry_as_an_object() {
        let catalog = Catalog::from_yaml(
            "user_plans: [{name: Standard, seats: 5}, Free]\ncompanies: [Acme]\nroles: [Boss]",
        )
        .unwrap();
        assert_eq!(
            catalog_json(&catalog),
            json!({
                "user_plans": [{"name": "Standard", "seats": 5}, {"name": "Free", "seats": null}],
                "companies": [{"name": "Acme"}],
                "groups": [],
                "roles": [{"name": "Boss"}],
            })
        );
        // What GET returns, PUT takes.
        let again: Catalog = serde_json::from_value(catalog_json(&catalog)).unwrap();
        assert_eq!(catalog_json(&again), catalog_json(&catalog));
    }

    #[test]
    fn an_unknown_kind_lists_the_kinds() {
        let e = kind("plan").unwrap_err();
        assert!(e
            .message
            .contains("\"plan\" (kinds: user_plan, company, group, role)"));
    }
}
