//! Idempotency keys: a replay by the same caller returns the first result; the same key with a
//! different input is refused.
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::db::entities::idempotency_key;
use crate::error::{Refusal, ServiceResult};

/// A digest of a request's content, to tell a replay from a different request.
pub fn fingerprint(value: &impl Serialize) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    let digest = Sha256::digest(&json);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub enum Claim<T> {
    /// No key was given.
    None,
    /// The first use of the key; complete it in the same transaction.
    First(PendingKey),
    /// The key was used before with the same input: its first result.
    Replay(T),
}

pub struct PendingKey {
    principal: String,
    operation: &'static str,
    key: String,
    request_hash: String,
}

/// Looks the key up in the command's transaction.
pub async fn claim<T: DeserializeOwned>(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    operation: &'static str,
    key: Option<&str>,
    request: &impl Serialize,
) -> ServiceResult<Claim<T>> {
    let Some(key) = key else {
        return Ok(Claim::None);
    };
    if key.is_empty() || key.len() > 200 {
        return Err(Refusal::invalid(
            &["idempotencyKey"],
            "idempotencyKey must be 1 to 200 characters",
        )
        .into());
    }
    let request_hash = fingerprint(request);
    let principal = principal.key();
    let existing = idempotency_key::Entity::find()
        .filter(idempotency_key::Column::Principal.eq(&principal))
        .filter(idempotency_key::Column::Operation.eq(operation))
        .filter(idempotency_key::Column::Key.eq(key))
        .one(conn)
        .await?;
    match existing {
        Some(row) if row.request_hash == request_hash => {
            let previous = serde_json::from_str(&row.response).map_err(|e| {
                crate::error::ServiceError::Internal(format!("stored idempotent result: {e}"))
            })?;
            Ok(Claim::Replay(previous))
        }
        Some(_) => Err(Refusal::invalid(
            &["idempotencyKey"],
            "this idempotencyKey was used with a different input",
        )
        .into()),
        None => Ok(Claim::First(PendingKey {
            principal,
            operation,
            key: key.to_owned(),
            request_hash,
        })),
    }
}

/// Stores the first result under the key.
pub async fn complete(
    conn: &impl ConnectionTrait,
    pending: PendingKey,
    result: &impl Serialize,
) -> ServiceResult<()> {
    idempotency_key::ActiveModel {
        principal: Set(pending.principal),
        operation: Set(pending.operation.to_owned()),
        key: Set(pending.key),
        request_hash: Set(pending.request_hash),
        response: Set(serde_json::to_string(result).unwrap_or_default()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}
