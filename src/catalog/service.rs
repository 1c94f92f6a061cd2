//! Catalogue and location commands and reads.
use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TryIntoModel,
};

use super::model::*;
use crate::auth::{Principal, Role, Scope};
use crate::clock;
use crate::db::Store;
use crate::db::entities::{location, product};
use crate::error::{ServiceError, ServiceResult};
use crate::events::{self, EventKind, NewEvent};

/// Anonymous callers must name the skus they ask for, and at most this many.
pub const MAX_ANONYMOUS_SKUS: usize = 100;

#[tracing::instrument(skip(store, principal, input), fields(sku = %input.sku))]
pub async fn upsert_product(
    store: &Store,
    principal: &Principal,
    input: ProductInput,
) -> ServiceResult<product::Model> {
    principal.require_with_scope(&[Role::Service], Scope::Catalog)?;
    let txn = store.begin_write().await?;
    let existing = product::Entity::find()
        .filter(product::Column::Sku.eq(&input.sku))
        .one(&*txn)
        .await?;
    let mut row: product::ActiveModel = match existing {
        Some(model) => model.into(),
        None => product::ActiveModel {
            sku: Set(input.sku.clone()),
            returnable: Set(true),
            related_skus: Set("[]".into()),
            ..Default::default()
        },
    };
    row.name = Set(input.name);
    row.category = Set(input.category);
    row.image_url = Set(input.image_url);
    row.care_instructions = Set(input.care_instructions);
    if let Some(returnable) = input.returnable {
        row.returnable = Set(returnable);
    }
    if let Some(related) = input.related_skus {
        row.related_skus = Set(serde_json::to_string(&related).unwrap_or_else(|_| "[]".into()));
    }
    if let Some(price) = input.price {
        row.price_minor = Set(Some(price.minor));
        row.currency = Set(Some(price.currency.code().to_owned()));
    }
    row.updated_at = Set(clock::now());
    let saved = row.save(&*txn).await?;
    let model = saved.try_into_model()?;
    let mut event = NewEvent::new(EventKind::CatalogChanged, principal);
    event.sku = Some(&model.sku);
    event.payload = serde_json::json!({ "product": model.sku });
    events::append(&*txn, event).await?;
    txn.commit().await?;
    Ok(model)
}

/// Products by sku, or the whole catalogue for authenticated callers.
pub async fn products(
    store: &Store,
    principal: &Principal,
    skus: Option<Vec<String>>,
) -> ServiceResult<Vec<product::Model>> {
    let mut query = product::Entity::find().order_by_asc(product::Column::Sku);
    match skus {
        Some(skus) => {
            if !principal.is_authenticated() && skus.len() > MAX_ANONYMOUS_SKUS {
                return Err(ServiceError::BadInput(format!(
                    "ask for at most {MAX_ANONYMOUS_SKUS} skus"
                )));
            }
            query = query.filter(product::Column::Sku.is_in(skus));
        }
        None if !principal.is_authenticated() => {
            return Err(ServiceError::BadInput(
                "anonymous callers must name the skus".into(),
            ));
        }
        None => {}
    }
    Ok(query.all(&store.db).await?)
}

pub async fn products_by_sku(
    store: &Store,
    skus: &[String],
) -> ServiceResult<HashMap<String, product::Model>> {
    let rows = product::Entity::find()
        .filter(product::Column::Sku.is_in(skus.iter().cloned()))
        .all(&store.db)
        .await?;
    Ok(rows.into_iter().map(|p| (p.sku.clone(), p)).collect())
}

pub async fn product_by_id(store: &Store, id: i64) -> ServiceResult<Option<product::Model>> {
    Ok(product::Entity::find_by_id(id).one(&store.db).await?)
}

#[tracing::instrument(skip(store, principal, input), fields(code = %input.code))]
pub async fn upsert_location(
    store: &Store,
    principal: &Principal,
    input: LocationInput,
) -> ServiceResult<location::Model> {
    principal.require_with_scope(&[Role::Service], Scope::Catalog)?;
    let txn = store.begin_write().await?;
    let existing = location::Entity::find()
        .filter(location::Column::Code.eq(&input.code))
        .one(&*txn)
        .await?;
    let mut row: location::ActiveModel = match existing {
        Some(model) => model.into(),
        None => location::ActiveModel {
            code: Set(input.code.clone()),
            pickup_point: Set(false),
            return_point: Set(false),
            shipping_cost_minor: Set(0),
            currency: Set("EUR".into()),
            handling_days: Set(1),
            ..Default::default()
        },
    };
    row.name = Set(input.name);
    row.kind = Set(input.kind.as_str().to_owned());
    row.latitude = Set(input.point.latitude);
    row.longitude = Set(input.point.longitude);
    if let Some(v) = input.pickup_point {
        row.pickup_point = Set(v);
    }
    if let Some(v) = input.return_point {
        row.return_point = Set(v);
    }
    if let Some(cost) = input.shipping_cost {
        row.shipping_cost_minor = Set(cost.minor);
        row.currency = Set(cost.currency.code().to_owned());
    }
    if let Some(days) = input.handling_days {
        row.handling_days = Set(days);
    }
    if input.country_code.is_some() {
        row.country_code = Set(input.country_code);
    }
    row.updated_at = Set(clock::now());
    let model = row.save(&*txn).await?.try_into_model()?;
    let mut event = NewEvent::new(EventKind::CatalogChanged, principal);
    event.location_id = Some(model.id);
    event.payload = serde_json::json!({ "location": model.code });
    events::append(&*txn, event).await?;
    txn.commit().await?;
    Ok(model)
}

/// Locations; anonymous callers and customers see pickup and return points only.
pub async fn locations(
    store: &Store,
    principal: &Principal,
    filter: LocationFilter,
) -> ServiceResult<Vec<location::Model>> {
    let mut query = location::Entity::find().order_by_asc(location::Column::Code);
    if let Some(kinds) = filter.kinds {
        query = query.filter(location::Column::Kind.is_in(kinds.iter().map(|k| k.as_str())));
    }
    if let Some(v) = filter.pickup_point {
        query = query.filter(location::Column::PickupPoint.eq(v));
    }
    if let Some(v) = filter.return_point {
        query = query.filter(location::Column::ReturnPoint.eq(v));
    }
    let rows = query.all(&store.db).await?;
    let public_only = matches!(principal.role(), None | Some(Role::Customer));
    Ok(rows
        .into_iter()
        .filter(|l| !public_only || l.pickup_point || l.return_point)
        .collect())
}

pub async fn location_by_code(store: &Store, code: &str) -> ServiceResult<Option<location::Model>> {
    Ok(location::Entity::find()
        .filter(location::Column::Code.eq(code))
        .one(&store.db)
        .await?)
}

pub async fn locations_by_id(
    store: &Store,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, location::Model>> {
    let rows = location::Entity::find()
        .filter(location::Column::Id.is_in(ids.iter().copied()))
        .all(&store.db)
        .await?;
    Ok(rows.into_iter().map(|l| (l.id, l)).collect())
}

/// A location by id, as `node(id:)` shows it to this principal.
pub async fn location_for(
    store: &Store,
    principal: &Principal,
    id: i64,
) -> ServiceResult<Option<location::Model>> {
    let row = location::Entity::find_by_id(id).one(&store.db).await?;
    let public_only = matches!(principal.role(), None | Some(Role::Customer));
    Ok(row.filter(|l| !public_only || l.pickup_point || l.return_point))
}

pub fn related_skus(model: &product::Model) -> Vec<String> {
    serde_json::from_str(&model.related_skus).unwrap_or_default()
}
