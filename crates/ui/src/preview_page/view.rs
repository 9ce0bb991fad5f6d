//! The Preview page's state as its URL holds it: the rule set, one filter per column,
//! *changed only*, the sort and its second key, the page size and the columns shown.
//! Back, Forward, reload and a shared link show the same view.

use crate::pages::encode;
use scimgate_app::preview::{column_name, Column, PreviewQuery};
use scimgate_app::{AppError, PreviewRules};

/// The columns shown when the URL names none: SuperOffice's, in its order.
pub(super) const DEFAULT_COLUMNS: [Column; 8] = [
    Column::Name,
    Column::Username,
    Column::UserPlan,
    Column::OwnerCompany,
    Column::PrimaryGroup,
    Column::SecondaryGroups,
    Column::Role,
    Column::Confidential,
];

pub(super) const PAGE_SIZES: [i64; 4] = [25, 50, 100, 200];
pub(super) const DEFAULT_SIZE: i64 = 50;

/// What the URL says: the whole state of the page.
#[derive(Debug, Clone, Default)]
pub(super) struct View {
    pub(super) rules: Option<PreviewRules>,
    /// `(column, operator, value)` as typed, one per column at most.
    pub(super) filters: Vec<(Column, String, String)>,
    pub(super) changed_only: bool,
    pub(super) sort: String,
    pub(super) then: String,
    pub(super) size: i64,
    pub(super) columns: Vec<Column>,
}

impl View {
    pub(super) fn parse(pairs: &[(String, String)]) -> View {
        let get = |name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        let rules = match get("rules").as_str() {
            "draft" => Some(PreviewRules::Draft),
            _ => None,
        };
        let mut filters = Vec::new();
        for (column, name) in scimgate_app::preview::COLUMNS {
            let op = get(&format!("op_{name}"));
            if op.is_empty() {
                continue;
            }
            filters.push((column, op, get(&format!("v_{name}"))));
        }
        let mut columns: Vec<Column> = pairs
            .iter()
            .filter(|(k, _)| k == "col")
            .filter_map(|(_, v)| {
                scimgate_app::preview::COLUMNS
                    .iter()
                    .find(|(_, n)| n == v)
                    .map(|(c, _)| *c)
            })
            .collect();
        columns.dedup();
        if columns.is_empty() {
            columns = DEFAULT_COLUMNS.to_vec();
        }
        let size = get("size").parse().unwrap_or(DEFAULT_SIZE);
        View {
            rules,
            filters,
            changed_only: get("changed") == "1",
            sort: get("sort"),
            then: get("then"),
            size: if PAGE_SIZES.contains(&size) {
                size
            } else {
                DEFAULT_SIZE
            },
            columns,
        }
    }

    pub(super) fn rules(&self) -> PreviewRules {
        self.rules.unwrap_or(PreviewRules::Published)
    }

    /// The query for the app: typed filters (an unusable one is the caller's error to
    /// show) and the sort.
    pub(super) fn query(&self) -> Result<PreviewQuery, AppError> {
        let mut texts: Vec<String> = self
            .filters
            .iter()
            .map(|(column, op, value)| {
                let name = column_name(*column);
                if value.is_empty() {
                    format!("{name}:{op}")
                } else {
                    format!("{name}:{op}:{value}")
                }
            })
            .collect();
        if self.changed_only {
            texts.push("changed:changed".into());
        }
        let sort = [self.sort.as_str(), self.then.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(",");
        PreviewQuery::parse(
            texts.iter().map(String::as_str),
            Some(sort.as_str()).filter(|s| !s.is_empty()),
            None,
        )
    }

    /// The URL's query, without paging.
    pub(super) fn pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        if self.rules == Some(PreviewRules::Draft) {
            pairs.push(("rules".into(), "draft".into()));
        }
        for (column, op, value) in &self.filters {
            let name = column_name(*column);
            pairs.push((format!("op_{name}"), op.clone()));
            if !value.is_empty() {
                pairs.push((format!("v_{name}"), value.clone()));
            }
        }
        if self.changed_only {
            pairs.push(("changed".into(), "1".into()));
        }
        for (name, value) in [("sort", &self.sort), ("then", &self.then)] {
            if !value.is_empty() {
                pairs.push((name.into(), value.clone()));
            }
        }
        if self.size != DEFAULT_SIZE {
            pairs.push(("size".into(), self.size.to_string()));
        }
        if self.columns != DEFAULT_COLUMNS {
            for column in &self.columns {
                pairs.push(("col".into(), column_name(*column).into()));
            }
        }
        pairs
    }

    pub(super) fn href(&self, tenant: &str, path: &str, extra: &[(&str, String)]) -> String {
        let mut query: Vec<String> = self
            .pairs()
            .into_iter()
            .map(|(k, v)| format!("{k}={}", encode(&v)))
            .collect();
        query.extend(extra.iter().map(|(k, v)| format!("{k}={}", encode(v))));
        let base = format!("/t/{tenant}/{path}");
        if query.is_empty() {
            base
        } else {
            format!("{base}?{}", query.join("&"))
        }
    }

    pub(super) fn with(&self, change: impl FnOnce(&mut View)) -> View {
        let mut view = self.clone();
        change(&mut view);
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_holds_the_whole_state() {
        let pairs: Vec<(String, String)> = [
            ("rules", "draft"),
            ("op_role", "one_of"),
            ("v_role", "Sales user|User"),
            ("sort", "-role"),
            ("then", "username"),
            ("size", "25"),
            ("col", "username"),
            ("col", "role"),
            ("changed", "1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let view = View::parse(&pairs);
        let again = View::parse(&view.pairs());
        assert_eq!(again.pairs(), view.pairs());
        assert_eq!(view.columns, [Column::Username, Column::Role]);
        let query = view.query().unwrap();
        assert_eq!(query.sort_text(), "-role");
        assert_eq!(query.filters.len(), 2);
        // An unknown page size falls back to the default.
        let odd = View::parse(&[("size".to_owned(), "7".to_owned())]);
        assert_eq!(odd.size, DEFAULT_SIZE);
    }
}
