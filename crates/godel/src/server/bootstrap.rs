//! The first admin API key: created on a first start (no active admin key in the store),
//! written to `<data_dir>/admin.key` with mode 0600 and printed once, so a new user can call
//! the API (and the CLI finds it by itself) without configuring anything.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use godel_http::AppState;
use godel_queue::TenantId;
use godel_types::Role;

use super::{Godel, ServerError};
use crate::settings::Settings;

/// A key created by this start.
#[derive(Clone)]
pub struct AdminKey {
    /// The key itself (`dk_live_…`).
    pub secret: String,
    /// The file it was written to.
    pub path: PathBuf,
}

impl std::fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminKey")
            .field("secret", &"<redacted>")
            .field("path", &self.path)
            .finish()
    }
}

/// Creates the first admin key unless an active one exists.
pub(super) async fn admin_key(
    state: &AppState,
    settings: &Settings,
) -> Result<Option<AdminKey>, ServerError> {
    let existing = state
        .api_keys()
        .list(None)
        .await
        .map_err(|e| ServerError::Store(format!("listing API keys: {e}")))?;
    if existing
        .iter()
        .any(|k| k.role == Role::Admin && k.is_active())
    {
        return Ok(None);
    }
    let tenant = TenantId::parse(&settings.auth.bootstrap_tenant)
        .map_err(|e| ServerError::Start(format!("auth.bootstrap_tenant: {e}")))?;
    let (secret, _record) =
        godel_http::auth::create_api_key(state, &tenant, "bootstrap admin", Role::Admin)
            .await
            .map_err(|e| ServerError::Start(format!("creating the admin key: {}", e.message)))?;
    let dir = &settings.server.data_dir;
    std::fs::create_dir_all(dir).map_err(|source| ServerError::Io {
        path: dir.clone(),
        source,
    })?;
    let path = dir.join("admin.key");
    write_private(&path, &secret).map_err(|source| ServerError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(Some(AdminKey { secret, path }))
}

/// Writes `secret` to `path`, readable by the owner only, replacing an older file.
fn write_private(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    writeln!(file, "{secret}")?;
    file.sync_all()
}

/// Prints where the server listens and, on a first start, the admin key (once).
pub(super) fn announce(godel: &Godel, local: SocketAddr) {
    println!(
        "godel-server {} listening on http://{local}",
        env!("CARGO_PKG_VERSION")
    );
    println!("  health:  http://{local}/health");
    println!("  API:     http://{local}/api/v1  (OpenAPI: /api/v1/openapi.json)");
    if let Some(key) = godel.admin_key() {
        println!(
            "  admin API key (shown once; saved to {}): {}",
            key.path.display(),
            key.secret
        );
    }
    let endpoints = godel.dev_endpoints();
    if !endpoints.is_empty() {
        println!(
            "  dev: {} simulated OpenClaw gateways ({})",
            endpoints.len(),
            endpoints.join(", ")
        );
    }
    tracing::info!(addr = %local, "listening");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_private_to_its_owner() {
        let dir = std::env::temp_dir().join(format!("godel-bootstrap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("admin.key");
        write_private(&path, "dk_live_x").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "dk_live_x\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
