//! The one place driver and codec failures become port errors: [`classify`] reads SQLite's
//! extended result code, and the helpers build [`RepositoryError`]s and [`FederationError`]s
//! from it, so no repository matches on driver errors itself.

use godel_federation::FederationError;
use godel_lifecycle::RepositoryError;

/// SQLite's extended result code for a violated `PRIMARY KEY`.
const CONSTRAINT_PRIMARYKEY: i32 = 1555;
/// SQLite's extended result code for a violated `UNIQUE` constraint or index.
const CONSTRAINT_UNIQUE: i32 = 2067;
/// SQLite's primary result code `SQLITE_BUSY` (the low byte of its extended codes).
const BUSY: i32 = 5;
/// SQLite's primary result code `SQLITE_LOCKED`.
const LOCKED: i32 = 6;

/// What a driver error means to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A row with the same primary key or unique key exists.
    Duplicate,
    /// Another writer held the database past the busy timeout.
    Busy,
    /// Anything else: I/O, a corrupt file, a closed pool, a bug in a statement.
    Other,
}

/// Classifies a driver error by SQLite's extended result code.
pub(crate) fn classify(err: &sqlx::Error) -> Failure {
    let code = match err {
        sqlx::Error::Database(db) => db.code().and_then(|c| c.parse::<i32>().ok()),
        _ => None,
    };
    match code {
        Some(CONSTRAINT_PRIMARYKEY | CONSTRAINT_UNIQUE) => Failure::Duplicate,
        Some(c) if c & 0xff == BUSY || c & 0xff == LOCKED => Failure::Busy,
        _ => Failure::Other,
    }
}

/// The message of an [`Unavailable`](RepositoryError::Unavailable) error for `doing`.
fn describe(doing: &str, err: &sqlx::Error) -> String {
    match classify(err) {
        Failure::Busy => format!("{doing}: the database stayed locked by another writer"),
        Failure::Duplicate | Failure::Other => doing.to_owned(),
    }
}

/// A driver error of a lifecycle repository, while `doing` something.
pub(crate) fn unavailable(doing: &str, err: sqlx::Error) -> RepositoryError {
    RepositoryError::unavailable(describe(doing, &err), err)
}

/// A driver error of an insert: a duplicate key is `AlreadyExists` for `entity` `id`.
pub(crate) fn insert_failed(
    entity: &'static str,
    id: impl ToString,
    err: sqlx::Error,
) -> RepositoryError {
    match classify(&err) {
        Failure::Duplicate => RepositoryError::already_exists(entity, id),
        Failure::Busy | Failure::Other => unavailable(&format!("storing {entity}"), err),
    }
}

/// A stored row of `entity` that does not decode (a corrupt or foreign row): bad JSON in
/// `record`, or a typed column that is not a valid id.
pub(crate) fn corrupt(
    entity: &str,
    err: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> RepositoryError {
    RepositoryError::unavailable(format!("stored {entity} row does not decode"), err)
}

/// A record of `entity` that does not encode to JSON.
pub(crate) fn unencodable(entity: &str, err: serde_json::Error) -> RepositoryError {
    RepositoryError::unavailable(format!("{entity} record does not encode"), err)
}

/// A value the schema cannot hold, e.g. a version beyond `i64::MAX`.
pub(crate) fn out_of_range(what: &str) -> RepositoryError {
    RepositoryError::unavailable(
        format!("{what} is out of the range SQLite stores"),
        format!("{what} exceeds i64::MAX"),
    )
}

/// A driver error of the instance store, while `doing` something.
pub(crate) fn federation_unavailable(doing: &str, err: sqlx::Error) -> FederationError {
    FederationError::unavailable(describe(doing, &err), err)
}

/// A stored instance that does not decode.
pub(crate) fn federation_corrupt(err: serde_json::Error) -> FederationError {
    FederationError::unavailable("stored instance record does not decode", err)
}

/// An instance that does not encode to JSON.
pub(crate) fn federation_unencodable(err: serde_json::Error) -> FederationError {
    FederationError::unavailable("instance record does not encode", err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_without_a_sqlite_code_are_other() {
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), Failure::Other);
        assert_eq!(classify(&sqlx::Error::RowNotFound), Failure::Other);
    }

    #[test]
    fn unavailable_keeps_the_driver_error_as_source() {
        let err = unavailable("reading session", sqlx::Error::PoolClosed);
        assert!(err.is_retryable());
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source, Some(sqlx::Error::PoolClosed.to_string()));
    }
}
