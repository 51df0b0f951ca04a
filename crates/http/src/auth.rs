//! Who a request acts as. The authentication middleware (submodules) turns a credential into a
//! [`Principal`] and puts it in the request's extensions; handlers take it as an extractor and
//! ask [`Principal::require`] for the role their route needs (PRD 8.2). The tenant comes from
//! the credential only, never from the request.

pub mod api_key;
pub mod jwt;
pub mod keys;
pub mod middleware;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use godel_types::{ApiKeyId, TenantId};

pub use godel_types::Role;
pub use keys::{create_api_key, generate_key};

use crate::error::ApiError;

/// How a request authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API key (`X-API-Key: dk_...`).
    ApiKey(ApiKeyId),
    /// A JWT (`Authorization: Bearer ...`), by its `sub` and `jti`.
    Jwt {
        /// The token's subject.
        subject: String,
        /// The token's id.
        jti: String,
    },
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant it acts for.
    pub tenant: TenantId,
    /// What it may do.
    pub role: Role,
    /// How it proved who it is.
    pub credential: Credential,
}

impl Principal {
    /// The actor as the audit log names it: `key:<id>` or `jwt:<sub>`.
    #[must_use]
    pub fn actor(&self) -> String {
        match &self.credential {
            Credential::ApiKey(id) => format!("key:{id}"),
            Credential::Jwt { subject, .. } => format!("jwt:{subject}"),
        }
    }

    /// The key rate limits are counted under: one bucket per credential.
    #[must_use]
    pub fn rate_key(&self) -> String {
        match &self.credential {
            Credential::ApiKey(id) => format!("key:{id}"),
            Credential::Jwt { subject, .. } => format!("jwt:{}:{subject}", self.tenant),
        }
    }

    /// Succeeds when the principal's role is at least `role`.
    ///
    /// # Errors
    /// 403 `forbidden` naming the role needed.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {role} role; the credential has {}",
                self.role
            )))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or_else(|| {
            ApiError::unauthorized("missing credentials: send X-API-Key or a Bearer token")
        })
    }
}
