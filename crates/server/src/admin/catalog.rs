//! The tenant's CRM catalogue: user plans (with seats), companies, groups, roles. Every
//! write names the version it is based on (see `version`).

use super::body::Document;
use super::call::Call;
use super::error::{ApiError, Result};
use super::version;
use axum::response::Response;
use scimgate_app::Versioned;
use scimgate_core::{Catalog, CatalogEntry, CatalogKind};
use serde::Deserialize;
use serde_json::{json, Value};

const CATALOGUE: &str = "the catalogue";

/// The catalogue as the API shows it: every entry an object; user plans with `seats`
/// (`null` = no limit).
fn catalog_json(catalog: &Catalog) -> Value {
    let names = |entries: &[CatalogEntry]| -> Vec<Value> {
        entries.iter().map(|e| json!({"name": e.name()})).collect()
    };
    let plans: Vec<Value> = catalog
        .user_plans
        .iter()
        .map(|e| json!({"name": e.name(), "seats": e.seats()}))
        .collect();
    json!({
        "user_plans": plans,
        "companies": names(&catalog.companies),
        "groups": names(&catalog.groups),
        "roles": names(&catalog.roles),
    })
}

fn respond(catalog: Versioned<Catalog>) -> Result<Response> {
    version::respond(Versioned {
        version: catalog.version,
        value: catalog_json(&catalog.value),
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

pub async fn get(call: Call) -> Result<Response> {
    call.no_params()?;
    respond(call.app.catalog(&call.tenant).await?)
}

/// Replaces the whole catalogue (JSON in the shape GET returns, or the YAML file).
pub async fn replace(call: Call, body: Document) -> Result<Response> {
    call.no_params()?;
    let catalog = match &body {
        Document::Yaml(text) => Catalog::from_yaml(text).map_err(ApiError::bad_request)?,
        Document::Json(_) => body
            .json::<Catalog>()
            .map_err(|e| ApiError::bad_request(format!("catalogue: {}", e.message)))?,
    };
    let expect = call.expected(Some(&body), CATALOGUE)?;
    respond(
        call.app
            .replace_catalog(&call.tenant, expect, catalog)
            .await?,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryBody {
    #[serde(default)]
    seats: Option<u64>,
}

/// The entry named in the path (`{kind}/{name}`); no query parameters.
fn entry(call: &Call) -> Result<(CatalogKind, &str)> {
    call.no_params()?;
    Ok((kind(call.path.get("kind")?)?, call.path.get("name")?))
}

/// Adds one entry, or sets the seats of an existing one. Answers with the entry.
pub async fn put_entry(call: Call, body: Document) -> Result<Response> {
    let (kind, name) = entry(&call)?;
    let seats = body.json_or_empty::<EntryBody>()?.and_then(|b| b.seats);
    let expect = call.expected(Some(&body), CATALOGUE)?;
    let saved = (call.app)
        .put_catalog_entry(&call.tenant, expect, kind, name, seats)
        .await?;
    version::respond(Versioned {
        version: saved.version,
        value: json!({"kind": kind.name(), "name": name, "seats": seats}),
    })
}

/// Removes one entry (204, with the catalogue's new version as ETag).
pub async fn delete_entry(call: Call) -> Result<Response> {
    let (kind, name) = entry(&call)?;
    let expect = call.expected(None, CATALOGUE)?;
    let saved = (call.app)
        .delete_catalog_entry(&call.tenant, expect, kind, name)
        .await?;
    Ok(version::no_content(saved.version))
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
