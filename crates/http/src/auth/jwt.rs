//! `Authorization: Bearer` JWTs: HS256 only, required `sub, iss, aud, exp, iat, jti`,
//! `tenant_id` and `role`, `nbf` honoured, issuer and audience checked, with the configured
//! leeway. Every other algorithm (including `none`) is refused.

use std::collections::HashSet;

use godel_types::{Role, TenantId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{Credential, Principal};
use crate::state::JwtSettings;

/// The claims Godel reads and requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: who the token was issued to.
    pub sub: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry (unix seconds).
    pub exp: i64,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Not before (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Token id.
    pub jti: String,
    /// The tenant the token acts for.
    pub tenant_id: String,
    /// What it may do.
    pub role: Role,
}

fn validation(settings: &JwtSettings) -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.algorithms = vec![Algorithm::HS256];
    v.leeway = settings.leeway.as_secs();
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_issuer(&[settings.issuer.as_str()]);
    v.set_audience(&[settings.audience.as_str()]);
    v.required_spec_claims = ["exp", "iss", "aud", "sub"]
        .into_iter()
        .map(str::to_owned)
        .collect::<HashSet<_>>();
    v
}

/// The principal of bearer token `token`.
///
/// # Errors
/// A message for the 401 answer when the token is malformed, not HS256, badly signed, expired,
/// not yet valid, for another issuer or audience, or misses a claim.
pub fn authenticate(settings: &JwtSettings, token: &str) -> Result<Principal, String> {
    let key = DecodingKey::from_secret(&settings.secret);
    let data = jsonwebtoken::decode::<Claims>(token, &key, &validation(settings))
        .map_err(|e| format!("invalid bearer token: {e}"))?;
    let claims = data.claims;
    if claims.sub.is_empty() || claims.jti.is_empty() {
        return Err("invalid bearer token: empty sub or jti".into());
    }
    let tenant = TenantId::parse(&claims.tenant_id)
        .map_err(|e| format!("invalid bearer token: tenant_id: {e}"))?;
    Ok(Principal {
        tenant,
        role: claims.role,
        credential: Credential::Jwt {
            subject: claims.sub,
            jti: claims.jti,
        },
    })
}

/// Signs `claims` with the configured secret (HS256): for operators' tooling and tests.
///
/// # Errors
/// When the claims cannot be encoded.
pub fn issue(settings: &JwtSettings, claims: &Claims) -> Result<String, String> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(&settings.secret),
    )
    .map_err(|e| e.to_string())
}
