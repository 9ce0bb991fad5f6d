//! The draft rule set and the published versions over HTTP: read, save and discard the
//! draft (its own version in `ETag`/`If-Match`), publish it with a comment, list and read
//! versions, compare two rule sets, and restore a version as the draft.

use super::body::Document;
use super::call::Call;
use super::error::{ApiError, Result};
use super::{rules, version};
use axum::response::{IntoResponse, Response};
use axum::Json;
use scimgate_app::{AppError, RuleSetRef};
use serde::Deserialize;
use serde_json::{json, Value};

const DRAFT: &str = "the draft rule set (0 when there is none)";

pub async fn get_draft(call: Call) -> Result<Response> {
    call.no_params()?;
    let draft = call.app.rule_draft(&call.tenant).await?;
    let Some(value) = draft.value else {
        return Err(AppError::NotFound("this tenant has no draft rule set".into()).into());
    };
    version::respond(scimgate_app::Versioned {
        version: draft.version,
        value,
    })
}

/// Saves the draft. `?based_on=N`: the published version the caller read; beginning a
/// draft from an older one is refused (409), as it would undo what was published since.
pub async fn put_draft(call: Call, body: Document) -> Result<Response> {
    let params = call.params.only(&["based_on"])?;
    let based_on = match params.one("based_on")? {
        Some(_) => Some(params.number("based_on", 0, i64::MAX as u64)? as i64),
        None => None,
    };
    let source = rules::rule_source(&body)?;
    let expect = call.expected(None, DRAFT)?;
    let saved = (call.app)
        .save_rule_draft(&call.tenant, expect, source, based_on)
        .await?;
    version::respond(saved)
}

pub async fn delete_draft(call: Call) -> Result<Response> {
    call.no_params()?;
    let expect = call.expected(None, DRAFT)?;
    call.app.discard_rule_draft(&call.tenant, expect).await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    comment: String,
    #[serde(default)]
    #[allow(dead_code)] // read through `Document::version`
    version: Option<i64>,
}

/// Publishes the draft: `{"comment": "…"}` with the draft's version (`If-Match` or
/// `version`). Answers with the new version.
pub async fn publish(call: Call, body: Document) -> Result<Json<Value>> {
    call.no_params()?;
    let publish: PublishBody = body.json()?;
    let expect = call.expected(Some(&body), DRAFT)?;
    let version = (call.app)
        .publish_rule_draft(&call.tenant, expect, &publish.comment)
        .await?;
    Ok(Json(json!({ "version": version })))
}

pub async fn list(call: Call) -> Result<Json<Value>> {
    call.no_params()?;
    let versions = call.app.rule_versions(&call.tenant).await?;
    let listed: Vec<Value> = versions
        .into_iter()
        .map(|v| {
            json!({
                "version": v.version,
                "published_at": v.published_at,
                "published_by": v.published_by,
                "comment": v.comment,
            })
        })
        .collect();
    Ok(Json(json!({ "versions": listed })))
}

fn version_number(call: &Call) -> Result<i64> {
    let text = call.path.get("version")?;
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("{text:?} is not a version number")))
}

pub async fn get(call: Call) -> Result<Json<Value>> {
    call.no_params()?;
    let (info, rules) = (call.app)
        .rule_version(&call.tenant, version_number(&call)?)
        .await?;
    Ok(Json(json!({
        "version": info.version,
        "published_at": info.published_at,
        "published_by": info.published_by,
        "comment": info.comment,
        "yaml": rules.source.yaml,
        "scripts": rules.source.scripts,
        "rules": rules.rules,
    })))
}

/// `?from=…&to=…`: version numbers, `published` or `draft` (`to` defaults to the draft).
pub async fn diff(call: Call) -> Result<Json<Value>> {
    call.params.only(&["from", "to"])?;
    let side = |name: &str, default: Option<&str>| -> Result<RuleSetRef> {
        let text = call.params.one(name)?.or(default).ok_or_else(|| {
            ApiError::bad_request(format!(
                "{name} is required: a version number, published or draft"
            ))
        })?;
        RuleSetRef::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "{name}={text:?} is not a version number, published or draft"
            ))
        })
    };
    let (from, to) = (side("from", None)?, side("to", Some("draft"))?);
    let diff = call.app.diff_rule_sets(&call.tenant, from, to).await?;
    Ok(Json(json!(diff)))
}

/// Makes a version the draft (the draft's version in `If-Match`; 0 when there is none).
pub async fn restore(call: Call) -> Result<Response> {
    call.no_params()?;
    let expect = call.expected(None, DRAFT)?;
    let restored = (call.app)
        .restore_rule_version(&call.tenant, version_number(&call)?, expect)
        .await?;
    version::respond(restored)
}
