//! `X-API-Key` authentication: hash the presented secret, look it up, compare in constant time,
//! refuse revoked keys, and record use at most about once a minute per key.

use std::time::Duration;

use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::keys::{hash_key, is_well_formed};
use super::{Credential, Principal};
use crate::state::AppState;

/// How often `last_used_at` is written for one key, at most.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// The principal of API key `secret`.
///
/// # Errors
/// A message for the 401 answer (never the secret) when the key is malformed, unknown or
/// revoked, or the store is unavailable.
pub async fn authenticate(state: &AppState, secret: &str) -> Result<Principal, String> {
    if !is_well_formed(secret) {
        return Err("malformed API key".into());
    }
    let hash = hash_key(secret);
    let record = match state.api_keys().find_by_hash(&hash).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err("unknown API key".into()),
        Err(e) => {
            tracing::warn!(error = %e, "api key lookup failed");
            return Err("API keys cannot be checked now".into());
        }
    };
    if !bool::from(record.hash.ct_eq(&hash)) {
        return Err("unknown API key".into());
    }
    if !record.is_active() {
        return Err("revoked API key".into());
    }
    let now = OffsetDateTime::now_utc();
    if record.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY) {
        let store = state.api_keys().clone();
        let id = record.id;
        tokio::spawn(async move {
            if let Err(e) = store.touch(id, now).await {
                tracing::warn!(error = %e, key = %id, "recording api key use failed");
            }
        });
    }
    Ok(Principal {
        tenant: record.tenant,
        role: record.role,
        credential: Credential::ApiKey(record.id),
    })
}
