//! API key material: generating a secret (`dk_live_`/`dk_test_` + 32 random bytes, base64url
//! without padding), hashing it (SHA-256, the only form ever stored) and creating a key record.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use godel_engine::access::ApiKeyRecord;
use godel_types::{ApiKeyId, Role, TenantId};
use rand::RngCore;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::state::AppState;

/// The prefix of production keys.
pub const LIVE_PREFIX: &str = "dk_live_";
/// The prefix of test keys.
pub const TEST_PREFIX: &str = "dk_test_";
/// Length of the base64url form of 32 bytes without padding.
const BODY_LEN: usize = 43;
/// Characters of the body kept in the displayed prefix.
const SHOWN: usize = 4;
/// Longest key name accepted.
const MAX_NAME_LEN: usize = 128;

/// A fresh key: `(secret, SHA-256 of the secret, displayable prefix)`.
#[must_use]
pub fn generate_key(live: bool) -> (String, [u8; 32], String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let kind = if live { LIVE_PREFIX } else { TEST_PREFIX };
    let secret = format!("{kind}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_key(&secret);
    let prefix = secret[..kind.len() + SHOWN].to_owned();
    (secret, hash, prefix)
}

/// SHA-256 of a key secret.
#[must_use]
pub fn hash_key(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `secret` has the shape of a key (prefix plus 43 base64url characters).
#[must_use]
pub fn is_well_formed(secret: &str) -> bool {
    let body = secret
        .strip_prefix(LIVE_PREFIX)
        .or_else(|| secret.strip_prefix(TEST_PREFIX));
    body.is_some_and(|b| {
        b.len() == BODY_LEN
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    })
}

/// Creates and stores a live key of `role` for `tenant`; returns the secret (shown once) and
/// the stored record. The server calls this to create the first admin key.
///
/// # Errors
/// 400 for an empty or overlong name; the store's errors otherwise.
pub async fn create_api_key(
    state: &AppState,
    tenant: &TenantId,
    name: &str,
    role: Role,
) -> Result<(String, ApiKeyRecord), ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::invalid("name: must be 1 to 128 characters"));
    }
    let (secret, hash, prefix) = generate_key(true);
    let record = ApiKeyRecord {
        id: ApiKeyId::generate(),
        tenant: tenant.clone(),
        name: name.to_owned(),
        role,
        prefix,
        hash,
        created_at: OffsetDateTime::now_utc(),
        last_used_at: None,
        revoked_at: None,
    };
    state.api_keys().insert(record.clone()).await?;
    Ok((secret, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_and_hash_to_what_is_returned() {
        let (secret, hash, prefix) = generate_key(true);
        assert!(secret.starts_with("dk_live_"));
        assert!(is_well_formed(&secret), "{secret}");
        assert_eq!(hash, hash_key(&secret));
        assert!(secret.starts_with(&prefix) && prefix.len() == 12);
        let (test_secret, ..) = generate_key(false);
        assert!(test_secret.starts_with("dk_test_") && is_well_formed(&test_secret));
        assert_ne!(secret, generate_key(true).0);
    }

    #[test]
    fn malformed_keys_are_recognised() {
        assert!(!is_well_formed("dk_live_short"));
        assert!(!is_well_formed(&format!("dk_prod_{}", "a".repeat(43))));
        assert!(!is_well_formed(&format!(
            "dk_live_{}",
            "a+".repeat(21) + "a"
        )));
    }
}
