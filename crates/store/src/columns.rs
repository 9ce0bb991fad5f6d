//! One row decoder per table for both read paths: a row from sqlx's pool and a row from
//! the direct SQLite connection (`bulk`) both answer `get(column)`, so each table's
//! decoder is written once, against [`Columns`].

use crate::Result;
use sqlx::Any;

/// A value both read paths can decode.
pub(crate) trait Value:
    for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> + rusqlite::types::FromSql
{
}

impl<T> Value for T where
    T: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> + rusqlite::types::FromSql
{
}

/// A row, by column name.
pub(crate) trait Columns {
    fn get<T: Value>(&self, column: &str) -> Result<T>;
}

impl Columns for sqlx::any::AnyRow {
    fn get<T: Value>(&self, column: &str) -> Result<T> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn get<T: Value>(&self, column: &str) -> Result<T> {
        Ok(rusqlite::Row::get(self, column)?)
    }
}
