//! Many rows in one statement: the rows are bound as one JSON array of arrays and unpacked
//! by the database (`json_each` on SQLite, `jsonb_array_elements` on PostgreSQL). Binding
//! each value on its own, or sending one statement a row, costs more than the database's
//! own work once a statement carries thousands of rows: a first sync of 100,000 accounts
//! spent most of its time in round trips of one INSERT each.
//!
//! A statement reads column `n` of the row as [`text`]`(n)` or [`integer`]`(n)`, from the
//! table named by [`source`] (alias `r`).

use sqlx::AnyConnection;

/// The `FROM` item that unpacks the JSON array bound as `$param`, aliased `r`. jsonb on
/// PostgreSQL: each row is parsed once, not once per `->>`.
pub(crate) fn source(conn: &AnyConnection, param: usize) -> String {
    match conn.backend_name() {
        "PostgreSQL" => format!("jsonb_array_elements(${param}::jsonb) AS r(value)"),
        _ => format!("json_each(${param}) AS r"),
    }
}

/// Column `n` of the row as text (NULL for JSON null).
pub(crate) fn text(n: usize) -> String {
    format!("r.value->>{n}")
}

/// Column `n` of the row as an integer.
pub(crate) fn integer(n: usize) -> String {
    format!("CAST(r.value->>{n} AS BIGINT)")
}

/// Text for a row, without NUL characters: PostgreSQL refuses them in text (and jsonb
/// refuses `\u0000`), and an IdP or a rule may pass one on; one such value must not
/// fail every row written beside it.
pub(crate) fn without_nul(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains('\0') {
        value.replace('\0', "").into()
    } else {
        value.into()
    }
}
