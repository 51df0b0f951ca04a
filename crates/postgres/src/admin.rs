//! Database administration through a server's admin URL: creating and dropping a database,
//! for tools that bring their own (the benchmark workload, the test fixtures).

use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// Whether `name` is safe to interpolate as an identifier: lowercase ASCII letters, digits and
/// `_`, starting with a letter, at most 63 bytes (Postgres' identifier limit).
#[must_use]
pub fn is_plain_identifier(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn checked(name: &str) -> Result<&str, sqlx::Error> {
    if is_plain_identifier(name) {
        Ok(name)
    } else {
        Err(sqlx::Error::Configuration(
            format!("database name {name:?} must be lowercase letters, digits and _").into(),
        ))
    }
}

/// Creates database `name` (optionally as a copy of `template`) on the server at `admin_url`.
///
/// # Errors
/// A configuration error for a name that is not a plain identifier; the driver's error when
/// the server refuses.
pub async fn create_database(
    admin_url: &str,
    name: &str,
    template: Option<&str>,
) -> Result<(), sqlx::Error> {
    let sql = match template {
        Some(template) => format!(
            "CREATE DATABASE {} TEMPLATE {}",
            checked(name)?,
            checked(template)?
        ),
        None => format!("CREATE DATABASE {}", checked(name)?),
    };
    let mut admin = PgConnection::connect(admin_url).await?;
    let result = sqlx::query(AssertSqlSafe(sql)).execute(&mut admin).await;
    admin.close().await.ok();
    result.map(drop)
}

/// Drops database `name` if it exists, ending its open connections first.
///
/// # Errors
/// A configuration error for a name that is not a plain identifier; the driver's error when
/// the server refuses.
pub async fn drop_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", checked(name)?);
    let mut admin = PgConnection::connect(admin_url).await?;
    let result = sqlx::query(AssertSqlSafe(sql)).execute(&mut admin).await;
    admin.close().await.ok();
    result.map(drop)
}

/// `url` with its database replaced by `database` (the query string is kept).
#[must_use]
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// The server's version string (`SHOW server_version`), e.g. `15.19 (Debian 15.19-0+deb12u1)`.
///
/// # Errors
/// The driver's error.
pub async fn server_version(url: &str) -> Result<String, sqlx::Error> {
    let mut conn = PgConnection::connect(url).await?;
    let version = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await;
    conn.close().await.ok();
    version
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced_keeping_the_query() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "t2"),
            "postgres://u@h/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "t3"), "postgres://u@h/t3");
    }

    #[test]
    fn only_plain_identifiers_are_interpolated() {
        assert!(is_plain_identifier("godel_bench_123"));
        for bad in ["", "1abc", "Abc", "a-b", "a;drop", "a b", &"a".repeat(64)] {
            assert!(!is_plain_identifier(bad), "{bad:?}");
        }
    }
}
