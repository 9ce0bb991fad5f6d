//! CSV as spreadsheets read it (RFC 4180: every field quoted, inner quotes doubled), and
//! safe to open: a field a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab
//! or a carriage return first) gets a leading `'`, so a userName like `=HYPERLINK(…)`
//! from the identity provider stays text.

/// One CSV line (without its line break).
pub fn row<S: AsRef<str>>(fields: &[S]) -> String {
    fields
        .iter()
        .map(|field| quoted(field.as_ref()))
        .collect::<Vec<_>>()
        .join(",")
}

fn quoted(field: &str) -> String {
    let formula = field.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let guard = if formula { "'" } else { "" };
    format!("\"{guard}{}\"", field.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::row;

    #[test]
    fn fields_are_quoted_and_formulas_stay_text() {
        assert_eq!(row(&["a", "b\"c", ""]), r#""a","b""c","""#);
        assert_eq!(
            row(&["=HYPERLINK(\"x\")", "+1", "-2", "@sum", "ok=1"]),
            r#""'=HYPERLINK(""x"")","'+1","'-2","'@sum","ok=1""#
        );
    }
}
