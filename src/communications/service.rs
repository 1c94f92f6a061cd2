//! Reading communications, and recording opens.
use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::outbox::outcome_event;
use crate::auth::{Principal, Role};
use crate::clock;
use crate::db::Store;
use crate::db::entities::communication;
use crate::error::{ServiceError, ServiceResult};
use crate::events::EventKind;
use crate::ids::CustomerId;
use crate::paging::{Page, PageRequest};

/// Who may read a communication: its customer, agents and services (services without bodies),
/// and marketing their own test sends.
pub fn may_read(principal: &Principal, c: &communication::Model) -> bool {
    match principal {
        Principal::Customer(id) => !c.is_test && c.customer_id == Some(id.0),
        Principal::Staff { role, sub, .. } => match role {
            Role::Agent | Role::Admin | Role::Service => true,
            Role::Marketing => c.is_test && c.requested_by.as_deref() == Some(sub.as_str()),
            Role::Customer => false,
        },
        Principal::Anonymous | Principal::System => false,
    }
}

/// Whether the viewer may read message bodies (services may not).
pub fn may_read_bodies(principal: &Principal) -> bool {
    principal.role() != Some(Role::Service)
}

pub async fn get(
    store: &Store,
    principal: &Principal,
    id: i64,
) -> ServiceResult<Option<communication::Model>> {
    if principal.role().is_none() {
        return Err(ServiceError::Unauthenticated);
    }
    let row = communication::Entity::find_by_id(id).one(&store.db).await?;
    Ok(row.filter(|c| may_read(principal, c)))
}

/// `Customer.communications`, newest first.
pub async fn of_customer(
    store: &Store,
    principal: &Principal,
    customer: CustomerId,
    page: PageRequest,
) -> ServiceResult<Page<communication::Model>> {
    let readable = crate::customers::may_read(principal, customer)
        && matches!(
            principal.role(),
            Some(Role::Customer | Role::Agent | Role::Admin | Role::Service)
        );
    if !readable {
        return Ok(Page {
            items: vec![],
            has_next: false,
            has_previous: false,
            total: 0,
        });
    }
    let query = communication::Entity::find()
        .filter(communication::Column::CustomerId.eq(customer.0))
        .filter(communication::Column::IsTest.eq(false));
    Ok(
        crate::db::newest_first(&store.db, query, communication::Column::Id, |c| c.id, page)
            .await?,
    )
}

pub async fn by_order(
    store: &Store,
    order_ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<communication::Model>>> {
    let rows = communication::Entity::find()
        .filter(communication::Column::OrderId.is_in(order_ids.iter().copied()))
        .filter(communication::Column::IsTest.eq(false))
        .order_by_asc(communication::Column::Id)
        .all(&store.db)
        .await?;
    Ok(crate::db::group_by(rows, |c| {
        c.order_id.unwrap_or_default()
    }))
}

pub async fn by_id(
    store: &Store,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, communication::Model>> {
    let rows = communication::Entity::find()
        .filter(communication::Column::Id.is_in(ids.iter().copied()))
        .all(&store.db)
        .await?;
    Ok(rows.into_iter().map(|c| (c.id, c)).collect())
}

/// The open-tracking pixel was fetched: the first time sets `openedAt` and writes EMAIL_OPENED.
pub async fn record_open(store: &Store, token: &str) -> ServiceResult<()> {
    if token.is_empty() || token.len() > 64 {
        return Ok(());
    }
    let txn = store.begin_write().await?;
    let result = communication::Entity::update_many()
        .col_expr(communication::Column::OpenedAt, Expr::value(clock::now()))
        .filter(communication::Column::OpenToken.eq(token))
        .filter(communication::Column::OpenedAt.is_null())
        .exec(&*txn)
        .await?;
    if result.rows_affected == 1
        && let Some(row) = communication::Entity::find()
            .filter(communication::Column::OpenToken.eq(token))
            .one(&*txn)
            .await?
    {
        outcome_event(&*txn, &row, EventKind::EmailOpened, None).await?;
    }
    txn.commit().await?;
    Ok(())
}
