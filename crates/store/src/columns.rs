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

/// How a read ends: each row fetched, decoded with its table's decoder.
pub(crate) trait Decoded {
    type Out<T>;
    fn decoded<T>(
        self,
        decode: impl FnMut(&sqlx::any::AnyRow) -> Result<T>,
    ) -> Result<Self::Out<T>>;
}

impl Decoded for Vec<sqlx::any::AnyRow> {
    type Out<T> = Vec<T>;
    fn decoded<T>(self, decode: impl FnMut(&sqlx::any::AnyRow) -> Result<T>) -> Result<Vec<T>> {
        self.iter().map(decode).collect()
    }
}

impl Decoded for Option<sqlx::any::AnyRow> {
    type Out<T> = Option<T>;
    fn decoded<T>(self, decode: impl FnMut(&sqlx::any::AnyRow) -> Result<T>) -> Result<Option<T>> {
        self.as_ref().map(decode).transpose()
    }
}
