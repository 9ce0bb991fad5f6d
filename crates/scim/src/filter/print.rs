//! Prints a filter so that parsing the text gives back the same AST: operands of
//! `and`/`or` that are themselves `and`/`or` are parenthesised, strings are JSON-quoted.

use super::{AttrRef, Filter};
use std::fmt::{self, Write};

pub(super) fn write_attr(attr: &AttrRef, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if let Some(urn) = &attr.urn {
        f.write_str(urn)?;
        f.write_char(':')?;
    }
    f.write_str(&attr.name)?;
    if let Some(filter) = &attr.filter {
        f.write_char('[')?;
        write_filter(filter, f)?;
        f.write_char(']')?;
    }
    if let Some(sub) = &attr.sub {
        f.write_char('.')?;
        f.write_str(sub)?;
    }
    Ok(())
}

fn write_operand(filter: &Filter, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if matches!(filter, Filter::And(..) | Filter::Or(..)) {
        f.write_char('(')?;
        write_filter(filter, f)?;
        f.write_char(')')
    } else {
        write_filter(filter, f)
    }
}

pub(super) fn write_filter(filter: &Filter, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match filter {
        Filter::Compare { attr, op, value } => {
            write_attr(attr, f)?;
            write!(f, " {} {}", op.keyword(), value)
        }
        Filter::Present(attr) => {
            write_attr(attr, f)?;
            f.write_str(" pr")
        }
        Filter::Has(attr) => write_attr(attr, f),
        Filter::And(a, b) | Filter::Or(a, b) => {
            write_operand(a, f)?;
            f.write_str(if matches!(filter, Filter::And(..)) {
                " and "
            } else {
                " or "
            })?;
            write_operand(b, f)
        }
        Filter::Not(inner) => {
            f.write_str("not (")?;
            write_filter(inner, f)?;
            f.write_char(')')
        }
    }
}
