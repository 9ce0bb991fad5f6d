//! SCIM filters (RFC 7644 §3.4.2.2): our own parser into an AST, a printer that the
//! parser reads back to the same AST, and an evaluator over stored JSON.

mod eval;
mod parse;
mod print;
mod qualify;

pub use eval::{check, eval, EvalError, Target};
pub use parse::{parse_attr_ref, parse_filter, ParseError};
pub use qualify::{qualify, qualify_attr};

use serde_json::Value;

/// An attribute reference: `[urn:]name[filter][.sub]`, e.g.
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value` or
/// `emails[type eq "work"].value`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrRef {
    pub urn: Option<String>,
    pub name: String,
    pub filter: Option<Box<Filter>>,
    pub sub: Option<String>,
}

impl AttrRef {
    pub fn simple(name: &str) -> AttrRef {
        AttrRef {
            urn: None,
            name: name.to_owned(),
            filter: None,
            sub: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub fn keyword(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    pub fn from_keyword(word: &str) -> Option<CompareOp> {
        [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ]
        .into_iter()
        .find(|op| op.keyword().eq_ignore_ascii_case(word))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attr op value`; `value` is a JSON string, number, boolean or null.
    Compare {
        attr: AttrRef,
        op: CompareOp,
        value: Value,
    },
    /// `attr pr`
    Present(AttrRef),
    /// A bare value path, `emails[type eq "work"]`: some element matches.
    Has(AttrRef),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        print::write_filter(self, f)
    }
}

impl std::fmt::Display for AttrRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        print::write_attr(self, f)
    }
}

#[cfg(test)]
mod proptests;
