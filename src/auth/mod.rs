//! Tokens and the principal that every service call is made as.
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::error::ServiceError;
use crate::ids::{CustomerId, GlobalId, NodeType};

pub const ISSUER: &str = "touchpoint";
pub const AUDIENCE: &str = "touchpoint-api";
const LEEWAY_SECONDS: u64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Agent,
    Marketing,
    Service,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Agent => "agent",
            Role::Marketing => "marketing",
            Role::Service => "service",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "customer" => Some(Role::Customer),
            "agent" => Some(Role::Agent),
            "marketing" => Some(Role::Marketing),
            "service" => Some(Role::Service),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// What a service token may do; a token without a `scope` claim may do all of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Catalog,
    Stock,
    Orders,
    Fulfilment,
    Tracking,
    Returns,
}

impl Scope {
    fn parse(raw: &str) -> Option<Scope> {
        match raw {
            "catalog" => Some(Scope::Catalog),
            "stock" => Some(Scope::Stock),
            "orders" => Some(Scope::Orders),
            "fulfilment" => Some(Scope::Fulfilment),
            "tracking" => Some(Scope::Tracking),
            "returns" => Some(Scope::Returns),
            _ => None,
        }
    }
}

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    /// Touchpoint itself, for time-driven rules (missed deadlines, retries).
    System,
    Customer(CustomerId),
    Staff {
        role: Role,
        sub: String,
        scopes: Option<Vec<Scope>>,
    },
}

impl Principal {
    pub fn role(&self) -> Option<Role> {
        match self {
            Principal::Anonymous | Principal::System => None,
            Principal::Customer(_) => Some(Role::Customer),
            Principal::Staff { role, .. } => Some(*role),
        }
    }

    /// The id recorded as the actor of what this principal does.
    pub fn actor_id(&self) -> Option<String> {
        match self {
            Principal::Anonymous | Principal::System => None,
            Principal::Customer(id) => Some(id.global()),
            Principal::Staff { sub, .. } => Some(sub.clone()),
        }
    }

    /// A stable key for per-caller records such as idempotency keys.
    pub fn key(&self) -> String {
        if *self == Principal::System {
            return "system".into();
        }
        match self.role() {
            None => "anonymous".into(),
            Some(role) => format!("{}:{}", role.as_str(), self.actor_id().unwrap_or_default()),
        }
    }

    pub fn is_authenticated(&self) -> bool {
        !matches!(self, Principal::Anonymous)
    }

    /// Refuses anonymous callers with UNAUTHENTICATED and other roles with FORBIDDEN.
    pub fn require(&self, roles: &[Role]) -> Result<Role, ServiceError> {
        match self.role() {
            None => Err(ServiceError::Unauthenticated),
            Some(role) if role == Role::Admin || roles.contains(&role) => Ok(role),
            Some(_) => Err(ServiceError::Forbidden),
        }
    }

    /// Like `require`, and a scoped service token must also hold `scope`.
    pub fn require_with_scope(&self, roles: &[Role], scope: Scope) -> Result<Role, ServiceError> {
        let role = self.require(roles)?;
        if let Principal::Staff {
            scopes: Some(scopes),
            role: Role::Service,
            ..
        } = self
            && !scopes.contains(&scope)
        {
            return Err(ServiceError::Forbidden);
        }
        Ok(role)
    }

    /// Agents and admins: every customer's data.
    pub fn is_staff_reader(&self) -> bool {
        matches!(self.role(), Some(Role::Agent | Role::Admin))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: String,
    exp: u64,
    iat: u64,
    iss: String,
    aud: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// Verifies bearer tokens.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid token")]
pub struct InvalidToken;

impl TokenVerifier {
    /// HS256 with a shared secret.
    pub fn hs256(secret: &str) -> TokenVerifier {
        TokenVerifier::with_key(
            DecodingKey::from_secret(secret.as_bytes()),
            Algorithm::HS256,
        )
    }

    /// RS256 with a PEM public key.
    pub fn rs256(public_key_pem: &[u8]) -> Result<TokenVerifier, String> {
        let key = DecodingKey::from_rsa_pem(public_key_pem).map_err(|e| e.to_string())?;
        Ok(TokenVerifier::with_key(key, Algorithm::RS256))
    }

    fn with_key(key: DecodingKey, algorithm: Algorithm) -> TokenVerifier {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        TokenVerifier { key, validation }
    }

    pub fn verify(&self, token: &str) -> Result<Principal, InvalidToken> {
        self.verify_until(token).map(|(principal, _)| principal)
    }

    /// The principal, and when the token expires (seconds since the epoch).
    pub fn verify_until(&self, token: &str) -> Result<(Principal, u64), InvalidToken> {
        let data =
            decode::<Claims>(token, &self.key, &self.validation).map_err(|_| InvalidToken)?;
        let claims = data.claims;
        let expires = claims.exp;
        self.principal_of(claims).map(|p| (p, expires))
    }

    fn principal_of(&self, claims: Claims) -> Result<Principal, InvalidToken> {
        let role = Role::parse(&claims.role).ok_or(InvalidToken)?;
        match role {
            Role::Customer => {
                let id = GlobalId::decode(&claims.sub)
                    .ok()
                    .and_then(|g| g.of(NodeType::Customer))
                    .ok_or(InvalidToken)?;
                Ok(Principal::Customer(CustomerId(id)))
            }
            _ => {
                if claims.sub.trim().is_empty() {
                    return Err(InvalidToken);
                }
                let scopes = match claims.scope {
                    None => None,
                    Some(raw) => Some(
                        raw.split_whitespace()
                            .map(Scope::parse)
                            .collect::<Option<Vec<_>>>()
                            .ok_or(InvalidToken)?,
                    ),
                };
                Ok(Principal::Staff {
                    role,
                    sub: claims.sub,
                    scopes,
                })
            }
        }
    }
}

/// Seconds since the epoch, as token claims count time.
pub fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Mints an HS256 token (development, scripts and tests).
pub fn mint_token(secret: &str, role: Role, sub: &str, ttl: Duration) -> String {
    mint_token_with_scope(secret, role, sub, ttl, None)
}

pub fn mint_token_with_scope(
    secret: &str,
    role: Role,
    sub: &str,
    ttl: Duration,
    scope: Option<&str>,
) -> String {
    let now = now_seconds();
    let claims = Claims {
        sub: sub.to_owned(),
        role: role.as_str().to_owned(),
        exp: now + ttl.as_secs(),
        iat: now,
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        scope: scope.map(str::to_owned),
    };
    // Encoding HS256 with an in-memory key cannot fail.
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_own_tokens_and_refuses_others() {
        let verifier = TokenVerifier::hs256("s3cret");
        let token = mint_token("s3cret", Role::Agent, "agent-7", Duration::from_secs(60));
        assert_eq!(
            verifier.verify(&token).unwrap(),
            Principal::Staff {
                role: Role::Agent,
                sub: "agent-7".into(),
                scopes: None
            }
        );
        let other = mint_token("other", Role::Agent, "agent-7", Duration::from_secs(60));
        assert!(verifier.verify(&other).is_err());
        let customer = mint_token(
            "s3cret",
            Role::Customer,
            "not-a-customer-id",
            Duration::from_secs(60),
        );
        assert!(verifier.verify(&customer).is_err());
    }
}
