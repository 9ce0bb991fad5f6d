//! A tenant's rule set as an admin writes it: the YAML file and the Rhai scripts it names.
//! Compiled (by the rules crate) against the catalogue whenever it is used.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleSource {
    pub yaml: String,
    /// Script file name → text.
    pub scripts: BTreeMap<String, String>,
}
