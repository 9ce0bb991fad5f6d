//! Preview: what a sync would do with the saved rules or a draft (nothing is saved or
//! applied), filtered (`column:operator:value`), sorted and paged; and one user's item
//! with the explanation of every value the rules set.

use super::auth::Admin;
use super::body::Document;
use super::error::{ApiError, Result};
use super::params::{Page, Params, Segments};
use super::{rules, AdminState};
use axum::extract::State;
use axum::Json;
use scimgate_scheduler::{Plan, PlanItem, RuleSource};
use scimgate_store::Tenant;
use serde_json::{json, Value};
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Action,
    UserId,
    Username,
    ExternalId,
    UserPlan,
    OwnerCompany,
    PrimaryGroup,
    SecondaryGroups,
    Role,
    Confidential,
    Reason,
}

impl Column {
    pub const ALL: [Column; 11] = [
        Column::Action,
        Column::UserId,
        Column::Username,
        Column::ExternalId,
        Column::UserPlan,
        Column::OwnerCompany,
        Column::PrimaryGroup,
        Column::SecondaryGroups,
        Column::Role,
        Column::Confidential,
        Column::Reason,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Column::Action => "action",
            Column::UserId => "user_id",
            Column::Username => "username",
            Column::ExternalId => "external_id",
            Column::UserPlan => "user_plan",
            Column::OwnerCompany => "owner_company",
            Column::PrimaryGroup => "primary_group",
            Column::SecondaryGroups => "secondary_groups",
            Column::Role => "role",
            Column::Confidential => "confidential",
            Column::Reason => "reason",
        }
    }

    fn parse(text: &str, what: &str) -> Result<Column> {
        Column::ALL
            .into_iter()
            .find(|c| c.name() == text)
            .ok_or_else(|| {
                let all: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
                ApiError::bad_request(format!(
                    "{what}: unknown column {text:?} (columns: {})",
                    all.join(", ")
                ))
            })
    }

    /// The item's value in this column; `None` when it has none (e.g. no target).
    fn value(self, item: &PlanItem) -> Option<String> {
        let target = item.target.as_ref();
        match self {
            Column::Action => Some(item.action.name().to_owned()),
            Column::UserId => Some(item.user_id.clone()),
            Column::Username => Some(item.username.clone()),
            Column::ExternalId => item.external_id.clone(),
            Column::UserPlan => target.and_then(|t| t.user_plan.clone()),
            Column::OwnerCompany => target.and_then(|t| t.owner_company.clone()),
            Column::PrimaryGroup => target.and_then(|t| t.primary_group.clone()),
            Column::SecondaryGroups => target.map(|t| t.secondary_groups.join(", ")),
            Column::Role => target.and_then(|t| t.role.clone()),
            Column::Confidential => target.map(|t| t.confidential.to_string()),
            Column::Reason => item.reason.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
    Null,
    NotNull,
    Empty,
    NotEmpty,
}

impl Operator {
    pub const ALL: [Operator; 10] = [
        Operator::Equals,
        Operator::NotEquals,
        Operator::Contains,
        Operator::NotContains,
        Operator::StartsWith,
        Operator::EndsWith,
        Operator::Null,
        Operator::NotNull,
        Operator::Empty,
        Operator::NotEmpty,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operator::Equals => "equals",
            Operator::NotEquals => "not_equals",
            Operator::Contains => "contains",
            Operator::NotContains => "not_contains",
            Operator::StartsWith => "starts_with",
            Operator::EndsWith => "ends_with",
            Operator::Null => "null",
            Operator::NotNull => "not_null",
            Operator::Empty => "empty",
            Operator::NotEmpty => "not_empty",
        }
    }

    fn takes_value(self) -> bool {
        !matches!(
            self,
            Operator::Null | Operator::NotNull | Operator::Empty | Operator::NotEmpty
        )
    }
}

/// One `filter=column:operator:value`. String comparisons ignore case; a column with no
/// value compares as "" (so `role:not_equals:Admin` keeps users without a role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    column: Column,
    operator: Operator,
    /// Lower-cased.
    value: String,
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter> {
        let what = format!("filter {text:?}");
        let mut parts = text.splitn(3, ':');
        let column = parts.next().unwrap_or_default();
        let Some(operator) = parts.next() else {
            return Err(ApiError::bad_request(format!(
                "{what}: expected column:operator:value, e.g. username:contains:smith"
            )));
        };
        let value = parts.next();
        let column = Column::parse(column, &what)?;
        let operator = Operator::ALL
            .into_iter()
            .find(|o| o.name() == operator)
            .ok_or_else(|| {
                let all: Vec<&str> = Operator::ALL.iter().map(|o| o.name()).collect();
                ApiError::bad_request(format!(
                    "{what}: unknown operator {operator:?} (operators: {})",
                    all.join(", ")
                ))
            })?;
        let value = match (operator.takes_value(), value) {
            (true, None) => {
                return Err(ApiError::bad_request(format!(
                    "{what}: operator {} needs a value: {}:{}:VALUE",
                    operator.name(),
                    column.name(),
                    operator.name()
                )))
            }
            (false, Some(v)) if !v.is_empty() => {
                return Err(ApiError::bad_request(format!(
                    "{what}: operator {} takes no value",
                    operator.name()
                )))
            }
            (_, v) => v.unwrap_or_default().to_lowercase(),
        };
        Ok(Filter {
            column,
            operator,
            value,
        })
    }

    pub fn matches(&self, item: &PlanItem) -> bool {
        let raw = self.column.value(item);
        let empty = raw.as_deref().is_none_or(str::is_empty);
        let text = raw.as_deref().unwrap_or_default().to_lowercase();
        let v = self.value.as_str();
        match self.operator {
            Operator::Equals => text == v,
            Operator::NotEquals => text != v,
            Operator::Contains => text.contains(v),
            Operator::NotContains => !text.contains(v),
            Operator::StartsWith => text.starts_with(v),
            Operator::EndsWith => text.ends_with(v),
            Operator::Null => raw.is_none(),
            Operator::NotNull => raw.is_some(),
            Operator::Empty => empty,
            Operator::NotEmpty => !empty,
        }
    }
}

/// What a preview request asks for: filters (all must match), sort, page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    filters: Vec<Filter>,
    sort: Column,
    descending: bool,
    page: Page,
}

impl Query {
    pub fn parse(params: &Params) -> Result<Query> {
        params.only(&["filter", "sort", "order", "offset", "limit"])?;
        let filters = params
            .all("filter")
            .map(Filter::parse)
            .collect::<Result<Vec<_>>>()?;
        let sort = match params.one("sort")? {
            Some(text) => Column::parse(text, "sort")?,
            None => Column::Username,
        };
        let descending = match params.one("order")? {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "order: {other:?} is not asc or desc"
                )))
            }
        };
        Ok(Query {
            filters,
            sort,
            descending,
            page: params.page()?,
        })
    }

    /// The plan's totals and seats, and the page of its items that match.
    pub fn answer(&self, plan: Plan) -> Value {
        let mut items: Vec<(Option<String>, PlanItem)> = plan
            .items
            .into_iter()
            .filter(|item| self.filters.iter().all(|f| f.matches(item)))
            .map(|item| (self.sort.value(&item).map(|v| v.to_lowercase()), item))
            .collect();
        items.sort_by(|(a, x), (b, y)| {
            let primary = a.cmp(b);
            let primary = if self.descending {
                primary.reverse()
            } else {
                primary
            };
            primary.then_with(|| tie_break(x, y))
        });
        let total = items.len();
        let page: Vec<PlanItem> = self
            .page
            .of(items)
            .into_iter()
            .map(|(_, item)| item)
            .collect();
        json!({
            "totals": plan.totals,
            "seats": plan.seats,
            "total_items": total,
            "items": page,
        })
    }
}

fn tie_break(x: &PlanItem, y: &PlanItem) -> Ordering {
    x.username
        .to_lowercase()
        .cmp(&y.username.to_lowercase())
        .then_with(|| x.user_id.cmp(&y.user_id))
}

async fn preview(
    state: &AdminState,
    tenant: &Tenant,
    params: &Params,
    draft: Option<&RuleSource>,
) -> Result<Json<Value>> {
    let query = Query::parse(params)?;
    let plan = state.app.preview(tenant, draft).await?;
    Ok(Json(query.answer(plan)))
}

/// With the saved rule set.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn saved(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
) -> Result<Json<Value>> {
    preview(&state, &admin.tenant, &params, None).await
}

/// With a draft rule set (the body, as PUT …/rules takes it); nothing is saved.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn draft(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
    body: Document,
) -> Result<Json<Value>> {
    Query::parse(&params)?;
    let draft = rules::rule_source(&body)?;
    preview(&state, &admin.tenant, &params, Some(&draft)).await
}

/// One user (by id or userName): its plan item and the explanation.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn user(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
) -> Result<Json<Value>> {
    params.only(&[])?;
    let wanted = path.get("id")?;
    let (item, explanation) = state.app.preview_user(&admin.tenant, wanted, None).await?;
    Ok(Json(json!({"item": item, "explanation": explanation})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scimgate_core::AccountFields;
    use scimgate_scheduler::Action;

    fn item(username: &str, role: Option<&str>, groups: &[&str]) -> PlanItem {
        PlanItem {
            user_id: format!("id-{username}"),
            username: username.into(),
            external_id: Some(format!("ext:{username}")),
            action: Action::Create,
            account: None,
            target: Some(AccountFields {
                username: username.into(),
                display_name: None,
                email: None,
                user_plan: Some("Standard".into()),
                owner_company: None,
                primary_group: None,
                secondary_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                role: role.map(str::to_owned),
                confidential: false,
                active: true,
            }),
            changes: Vec::new(),
            reason: None,
            synced: true,
            arrived: String::new(),
        }
    }

    fn keeps(filter: &str, item: &PlanItem) -> bool {
        Filter::parse(filter).unwrap().matches(item)
    }

    #[test]
    fn every_operator_compares_without_case() {
        let a = item(
            "Alice@Contoso.com",
            Some("Sales user"),
            &["EMEA", "Nordics"],
        );
        let no_target = PlanItem {
            target: None,
            ..item("bob", None, &[])
        };
        assert!(keeps("username:equals:alice@contoso.COM", &a));
        assert!(keeps("role:not_equals:admin", &a));
        assert!(keeps("role:not_equals:admin", &no_target));
        assert!(keeps("secondary_groups:contains:emea, nordics", &a));
        assert!(keeps("username:not_contains:fabrikam", &a));
        assert!(keeps("username:starts_with:ALICE", &a));
        assert!(keeps("username:ends_with:.com", &a));
        assert!(keeps("role:null", &no_target) && !keeps("role:null", &a));
        assert!(keeps("role:not_null", &a));
        assert!(keeps("owner_company:empty", &a) && keeps("reason:empty:", &a));
        assert!(keeps("secondary_groups:not_empty", &a));
        assert!(!keeps("secondary_groups:not_empty", &no_target));
        // The value may itself contain ':'.
        assert!(keeps("external_id:equals:EXT:alice@contoso.com", &a));
        assert!(keeps("confidential:equals:false", &a));
        assert!(keeps("action:equals:create", &a));
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let e = Filter::parse("usrname:equals:x").unwrap_err();
        assert!(
            e.message.contains("unknown column \"usrname\""),
            "{}",
            e.message
        );
        assert!(e.message.contains("username, external_id"), "{}", e.message);
        let e = Filter::parse("username:like:x").unwrap_err();
        assert!(
            e.message.contains("unknown operator \"like\""),
            "{}",
            e.message
        );
        assert!(e.message.contains("starts_with"), "{}", e.message);
        let e = Filter::parse("username").unwrap_err();
        assert!(e.message.contains("column:operator:value"), "{}", e.message);
        let e = Filter::parse("username:equals").unwrap_err();
        assert!(e.message.contains("needs a value"), "{}", e.message);
        let e = Filter::parse("role:null:x").unwrap_err();
        assert!(e.message.contains("takes no value"), "{}", e.message);
    }

    #[test]
    fn sort_and_page_apply_after_filters() {
        let plan = Plan {
            items: vec![
                item("carol", None, &[]),
                item("alice", Some("R"), &[]),
                item("bob", None, &[]),
            ],
            ..Plan::default()
        };
        let params = Params::from_pairs(&[
            ("filter", "role:null"),
            ("sort", "username"),
            ("order", "desc"),
            ("limit", "1"),
        ]);
        let answer = Query::parse(&params).unwrap().answer(plan);
        assert_eq!(answer["total_items"], 2);
        assert_eq!(answer["items"].as_array().unwrap().len(), 1);
        assert_eq!(answer["items"][0]["username"], "carol");
        let e = Query::parse(&Params::from_pairs(&[("order", "up")])).unwrap_err();
        assert!(e.message.contains("\"up\" is not asc or desc"));
        let e = Query::parse(&Params::from_pairs(&[("sort", "nme")])).unwrap_err();
        assert!(e.message.contains("sort: unknown column \"nme\""));
    }
}
