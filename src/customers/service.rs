//! Customer commands and reads, with the rule that a customer reaches only their own record.
use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
};

use super::model::*;
use crate::auth::{Principal, Role, Scope};
use crate::clock;
use crate::db::Store;
use crate::db::entities::{customer, customer_identity, customer_note};
use crate::error::{Refusal, ServiceError, ServiceResult};
use crate::events::{self, EventKind, NewEvent};
use crate::ids::CustomerId;
use crate::paging::{Page, PageRequest};

/// Finds the customer an incoming record is about (by identity, then email), creating or
/// completing it. Runs inside the caller's transaction.
pub async fn resolve_customer(
    conn: &impl ConnectionTrait,
    input: &CustomerInput,
) -> ServiceResult<customer::Model> {
    let by_identity = match &input.identity {
        Some(identity) => customer_identity::Entity::find()
            .filter(customer_identity::Column::Channel.eq(identity.channel.as_str()))
            .filter(customer_identity::Column::ExternalId.eq(&identity.external_id))
            .one(conn)
            .await?
            .map(|row| row.customer_id),
        None => None,
    };
    let mut found = match by_identity {
        Some(id) => customer::Entity::find_by_id(id).one(conn).await?,
        None => None,
    };
    if found.is_none()
        && let Some(email) = &input.email
    {
        found = customer::Entity::find()
            .filter(customer::Column::Email.eq(email.as_str()))
            .one(conn)
            .await?;
    }
    let now = clock::now();
    let model = match found {
        Some(existing) => {
            // Fill in what was unknown; never overwrite what the customer has set.
            let mut row: customer::ActiveModel = existing.clone().into();
            let mut changed = false;
            if existing.email.is_none()
                && let Some(email) = &input.email
            {
                let taken = customer::Entity::find()
                    .filter(customer::Column::Email.eq(email.as_str()))
                    .count(conn)
                    .await?
                    > 0;
                if !taken {
                    row.email = Set(Some(email.as_str().to_owned()));
                    changed = true;
                }
            }
            if existing.first_name.is_none() && input.first_name.is_some() {
                row.first_name = Set(input.first_name.clone());
                changed = true;
            }
            if existing.last_name.is_none() && input.last_name.is_some() {
                row.last_name = Set(input.last_name.clone());
                changed = true;
            }
            if existing.phone.is_none() && input.phone.is_some() {
                row.phone = Set(input.phone.clone());
                changed = true;
            }
            if changed {
                row.updated_at = Set(now);
                row.update(conn).await?
            } else {
                existing
            }
        }
        None => {
            customer::ActiveModel {
                email: Set(input.email.as_ref().map(|e| e.as_str().to_owned())),
                first_name: Set(input.first_name.clone()),
                last_name: Set(input.last_name.clone()),
                phone: Set(input.phone.clone()),
                locale: Set(input
                    .locale
                    .clone()
                    .unwrap_or_else(|| DEFAULT_LOCALE.to_owned())),
                order_updates_by_email: Set(true),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(conn)
            .await?
        }
    };
    if let Some(identity) = &input.identity
        && by_identity.is_none()
    {
        customer_identity::ActiveModel {
            customer_id: Set(model.id),
            channel: Set(identity.channel.as_str().to_owned()),
            external_id: Set(identity.external_id.clone()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(conn)
        .await?;
    }
    Ok(model)
}

/// A customer with no contact details: an anonymous sale at a till.
pub async fn create_walk_in(conn: &impl ConnectionTrait) -> ServiceResult<customer::Model> {
    let now = clock::now();
    Ok(customer::ActiveModel {
        locale: Set(DEFAULT_LOCALE.to_owned()),
        order_updates_by_email: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

pub fn check_customer_input(input: &CustomerInput) -> Result<(), Refusal> {
    if input.email.is_none() && input.identity.is_none() {
        return Err(Refusal::invalid(
            &["email"],
            "give at least an email or a channel identity",
        ));
    }
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn upsert_customer(
    store: &Store,
    principal: &Principal,
    input: CustomerInput,
) -> ServiceResult<customer::Model> {
    principal.require_with_scope(&[Role::Service, Role::Agent], Scope::Orders)?;
    check_customer_input(&input)?;
    let txn = store.begin_write().await?;
    let model = resolve_customer(&*txn, &input).await?;
    // An explicit upsert also updates the names and phone it carries.
    let mut row: customer::ActiveModel = model.clone().into();
    if input.first_name.is_some() {
        row.first_name = Set(input.first_name.clone());
    }
    if input.last_name.is_some() {
        row.last_name = Set(input.last_name.clone());
    }
    if input.phone.is_some() {
        row.phone = Set(input.phone.clone());
    }
    if let Some(locale) = &input.locale {
        row.locale = Set(locale.clone());
    }
    row.updated_at = Set(clock::now());
    let model = row.update(&*txn).await?;
    let mut event = NewEvent::new(EventKind::CustomerUpdated, principal);
    event.customer_id = Some(model.id);
    events::append(&*txn, event).await?;
    txn.commit().await?;
    Ok(model)
}

#[tracing::instrument(skip_all, fields(customer = id.0))]
pub async fn update_customer(
    store: &Store,
    principal: &Principal,
    id: CustomerId,
    update: CustomerUpdate,
) -> ServiceResult<customer::Model> {
    principal.require(&[Role::Customer, Role::Agent])?;
    let txn = store.begin_write().await?;
    let existing = match customer::Entity::find_by_id(id.0).one(&*txn).await? {
        Some(c) if may_read(principal, CustomerId(c.id)) => c,
        _ => return Err(Refusal::not_found(&["customerId"], "no such customer").into()),
    };
    let mut row: customer::ActiveModel = existing.into();
    if let Some(v) = update.first_name {
        row.first_name = Set(v);
    }
    if let Some(v) = update.last_name {
        row.last_name = Set(v);
    }
    if let Some(v) = update.phone {
        row.phone = Set(v);
    }
    if let Some(v) = update.locale {
        row.locale = Set(v);
    }
    if let Some(v) = update.order_updates_by_email {
        row.order_updates_by_email = Set(v);
    }
    row.updated_at = Set(clock::now());
    let model = row.update(&*txn).await?;
    let mut event = NewEvent::new(EventKind::CustomerUpdated, principal);
    event.customer_id = Some(model.id);
    events::append(&*txn, event).await?;
    txn.commit().await?;
    Ok(model)
}

/// Whether this principal may read the customer: their own record, or staff that reads customers.
pub fn may_read(principal: &Principal, id: CustomerId) -> bool {
    match principal {
        Principal::Customer(own) => *own == id,
        Principal::Staff { role, .. } => matches!(role, Role::Agent | Role::Admin | Role::Service),
        Principal::Anonymous | Principal::System => false,
    }
}

/// `customer(id)`: null when missing or not the caller's.
pub async fn get_customer(
    store: &Store,
    principal: &Principal,
    id: CustomerId,
) -> ServiceResult<Option<customer::Model>> {
    require_customer_reader(principal)?;
    if !may_read(principal, id) {
        return Ok(None);
    }
    Ok(customer::Entity::find_by_id(id.0).one(&store.db).await?)
}

/// Who may read customers at all. A root field given an ID of another type checks this too, so
/// the ID reads exactly like a missing customer.
pub fn require_customer_reader(principal: &Principal) -> ServiceResult<()> {
    principal.require(&[Role::Customer, Role::Agent, Role::Service])?;
    Ok(())
}

/// `me`.
pub async fn me(store: &Store, principal: &Principal) -> ServiceResult<Option<customer::Model>> {
    match principal {
        Principal::Customer(id) => Ok(customer::Entity::find_by_id(id.0).one(&store.db).await?),
        Principal::Anonymous => Err(ServiceError::Unauthenticated),
        Principal::Staff { .. } | Principal::System => Err(ServiceError::Forbidden),
    }
}

pub async fn customers_by_id(
    store: &Store,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, customer::Model>> {
    let rows = customer::Entity::find()
        .filter(customer::Column::Id.is_in(ids.iter().copied()))
        .all(&store.db)
        .await?;
    Ok(rows.into_iter().map(|c| (c.id, c)).collect())
}

pub async fn identities_by_customer(
    store: &Store,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<customer_identity::Model>>> {
    let rows = customer_identity::Entity::find()
        .filter(customer_identity::Column::CustomerId.is_in(ids.iter().copied()))
        .order_by_asc(customer_identity::Column::Id)
        .all(&store.db)
        .await?;
    Ok(crate::db::group_by(rows, |r| r.customer_id))
}

/// `customers(query)`: agents search by name, email, phone or identity.
pub async fn search_customers(
    store: &Store,
    principal: &Principal,
    query: Option<&str>,
    page: PageRequest,
) -> ServiceResult<Page<customer::Model>> {
    principal.require(&[Role::Agent])?;
    let mut condition = Condition::all();
    // Every word must match a name, the email, the phone or a channel identity.
    for word in query.unwrap_or_default().split_whitespace().take(5) {
        let pattern = format!("%{}%", word.to_lowercase().replace(['\\', '%', '_'], ""));
        let lower =
            |col: customer::Column| Expr::expr(Func::lower(Expr::col((customer::Entity, col))));
        let identity_ids = customer_identity::Entity::find()
            .select_only()
            .column(customer_identity::Column::CustomerId)
            .filter(
                Expr::expr(Func::lower(Expr::col(
                    customer_identity::Column::ExternalId,
                )))
                .like(pattern.clone()),
            )
            .into_query();
        condition = condition.add(
            Condition::any()
                .add(lower(customer::Column::Email).like(pattern.clone()))
                .add(lower(customer::Column::FirstName).like(pattern.clone()))
                .add(lower(customer::Column::LastName).like(pattern.clone()))
                .add(Expr::col((customer::Entity, customer::Column::Phone)).like(pattern.clone()))
                .add(customer::Column::Id.in_subquery(identity_ids)),
        );
    }
    let total = customer::Entity::find()
        .filter(condition.clone())
        .count(&store.db)
        .await?;
    let mut select = customer::Entity::find()
        .filter(condition)
        .order_by_desc(customer::Column::Id);
    if let Some(before) = page.before_key {
        select = select.filter(customer::Column::Id.lt(before));
    }
    let rows = select.limit(page.size + 1).all(&store.db).await?;
    Ok(Page::from_rows(
        rows.into_iter().map(|c| (c.id, c)).collect(),
        page,
        total,
    ))
}

/// `customerByIdentity`.
pub async fn customer_by_identity(
    store: &Store,
    principal: &Principal,
    identity: &Identity,
) -> ServiceResult<Option<customer::Model>> {
    principal.require(&[Role::Agent, Role::Service])?;
    let row = customer_identity::Entity::find()
        .filter(customer_identity::Column::Channel.eq(identity.channel.as_str()))
        .filter(customer_identity::Column::ExternalId.eq(&identity.external_id))
        .one(&store.db)
        .await?;
    match row {
        Some(row) => Ok(customer::Entity::find_by_id(row.customer_id)
            .one(&store.db)
            .await?),
        None => Ok(None),
    }
}

/// The longest note an agent may write.
pub const MAX_NOTE_CHARS: usize = 5000;

#[derive(serde::Serialize)]
struct NoteRequest<'a> {
    customer: i64,
    body: &'a str,
}

/// A stored note, as the idempotency record keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct NoteRef {
    id: i64,
}

/// `addCustomerNote`: agents write notes on any customer; a note is a NOTE_ADDED event too.
#[tracing::instrument(skip_all, fields(customer = customer.0))]
pub async fn add_note(
    store: &Store,
    principal: &Principal,
    customer: CustomerId,
    body: &str,
    idempotency_key: Option<&str>,
) -> ServiceResult<customer_note::Model> {
    principal.require(&[Role::Agent])?;
    let body = body.trim();
    if body.is_empty() || body.chars().count() > MAX_NOTE_CHARS {
        return Err(Refusal::invalid(
            &["body"],
            format!("a note is 1 to {MAX_NOTE_CHARS} characters"),
        )
        .into());
    }
    let txn = store.begin_write().await?;
    let request = NoteRequest {
        customer: customer.0,
        body,
    };
    let claim = crate::idempotency::claim::<NoteRef>(
        &*txn,
        principal,
        "addCustomerNote",
        idempotency_key,
        &request,
    )
    .await?;
    if let crate::idempotency::Claim::Replay(previous) = claim {
        return customer_note::Entity::find_by_id(previous.id)
            .one(&*txn)
            .await?
            .ok_or_else(|| ServiceError::Internal("an idempotent note vanished".into()));
    }
    if customer::Entity::find_by_id(customer.0)
        .one(&*txn)
        .await?
        .is_none()
    {
        return Err(Refusal::not_found(&["customerId"], "no such customer").into());
    }
    let author = principal.actor_id().unwrap_or_default();
    let note = customer_note::ActiveModel {
        customer_id: Set(customer.0),
        body: Set(body.to_owned()),
        author: Set(author),
        created_at: Set(clock::now()),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    let mut event = NewEvent::new(EventKind::NoteAdded, principal);
    event.customer_id = Some(customer.0);
    event.payload = serde_json::json!({ "noteId": note.id, "body": note.body });
    events::append(&*txn, event).await?;
    if let crate::idempotency::Claim::First(key) = claim {
        crate::idempotency::complete(&*txn, key, &NoteRef { id: note.id }).await?;
    }
    txn.commit().await?;
    Ok(note)
}

/// `Customer.notes`: agents only; None for every other role.
pub async fn notes(
    store: &Store,
    principal: &Principal,
    customer: CustomerId,
    page: PageRequest,
) -> ServiceResult<Option<Page<customer_note::Model>>> {
    if !principal.is_staff_reader() {
        return Ok(None);
    }
    let query =
        customer_note::Entity::find().filter(customer_note::Column::CustomerId.eq(customer.0));
    let page = crate::db::newest_first(&store.db, query, customer_note::Column::Id, |n| n.id, page)
        .await?;
    Ok(Some(page))
}

/// A note by id, for `node(id:)`: agents only.
pub async fn note(
    store: &Store,
    principal: &Principal,
    id: i64,
) -> ServiceResult<Option<customer_note::Model>> {
    if !principal.is_staff_reader() {
        return Ok(None);
    }
    Ok(customer_note::Entity::find_by_id(id).one(&store.db).await?)
}
