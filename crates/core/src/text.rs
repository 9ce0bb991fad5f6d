//! Case folding shared by the store's indexed columns and the SCIM filter translator:
//! both sides must fold exactly the same way or an indexed lookup would miss.

/// Folds a case-insensitive SCIM string (e.g. `userName`) for indexing and comparison.
pub fn fold_case(s: &str) -> String {
    s.to_lowercase()
}
