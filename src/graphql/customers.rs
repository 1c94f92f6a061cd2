//! Customers: the unified graph's people, their identities and their orders.
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};

use super::communications::{Communication, CommunicationConnection};
use super::connection::connection;
use super::errors::{GqlResult, UserError, malformed_id, outcome};
use super::loaders::IdentitiesOf;
use super::orders::{Order, OrderConnection, OrderStatus};
use super::returns::{Return, ReturnConnection};
use super::timeline::{CustomerNoteConnection, TimelineConnection, TimelineKind};
use super::{load_error, loader, principal, store};
use crate::catalog::check_text;
use crate::customers::{
    self as service, CustomerUpdate, Email, Identity, check_locale, check_phone,
};
use crate::db::entities::customer;
use crate::error::{Refusal, ServiceError};
use crate::ids::{CustomerId, GlobalId, NodeType};
use crate::orders::{self as orders_service, OrderFilter};
use crate::paging::PageRequest;

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::orders::Channel")]
pub enum Channel {
    Web,
    App,
    Store,
    Marketplace,
    Phone,
}

#[derive(SimpleObject, Clone)]
pub struct ChannelIdentity {
    pub channel: Channel,
    pub external_id: String,
}

#[derive(InputObject, Clone)]
pub struct ChannelIdentityInput {
    pub channel: Channel,
    pub external_id: String,
}

impl ChannelIdentityInput {
    fn parse(&self, field: &str) -> Result<Identity, Refusal> {
        let external_id =
            check_text(&self.external_id, "externalId", 200).map_err(|r| r.under(&[field]))?;
        Ok(Identity {
            channel: self.channel.into(),
            external_id,
        })
    }
}

#[derive(SimpleObject, Clone)]
pub struct CommunicationPreferences {
    /// Optional updates (dispatched, out for delivery, delivered, ready, substitution) by email.
    /// Confirmations, cancellations, delays and refunds are always sent.
    pub order_updates_by_email: bool,
}

#[derive(Clone)]
pub struct Customer(pub customer::Model);

connection!(CustomerConnection, CustomerEdge, Customer);

#[Object]
impl Customer {
    pub async fn id(&self) -> ID {
        ID(CustomerId(self.0.id).global())
    }
    /// Null for anonymous walk-in customers and masked marketplace buyers.
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn first_name(&self) -> Option<&str> {
        self.0.first_name.as_deref()
    }
    async fn last_name(&self) -> Option<&str> {
        self.0.last_name.as_deref()
    }
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    async fn locale(&self) -> &str {
        &self.0.locale
    }
    async fn identities(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ChannelIdentity>> {
        let rows = loader(ctx)
            .load_one(IdentitiesOf(self.0.id))
            .await
            .map_err(load_error)?
            .unwrap_or_default();
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                crate::orders::Channel::parse(&r.channel).map(|c| ChannelIdentity {
                    channel: c.into(),
                    external_id: r.external_id,
                })
            })
            .collect())
    }
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        channel: Option<Channel>,
        status: Option<OrderStatus>,
    ) -> async_graphql::Result<OrderConnection> {
        let page = PageRequest::parse(first, after.as_deref()).gql()?;
        let filter = OrderFilter {
            channel: channel.map(Into::into),
            status: status.map(Into::into),
        };
        let rows = orders_service::orders_of_customer(
            store(ctx),
            principal(ctx),
            CustomerId(self.0.id),
            filter,
            page,
        )
        .await
        .gql()?;
        Ok(OrderConnection::from_page(rows, Order))
    }
    /// Newest first.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn returns(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<ReturnConnection> {
        let page = PageRequest::parse(first, after.as_deref()).gql()?;
        let rows = crate::returns::returns_of_customer(
            store(ctx),
            principal(ctx),
            CustomerId(self.0.id),
            page,
        )
        .await
        .gql()?;
        Ok(ReturnConnection::from_page(rows, Return))
    }
    /// Every message sent or tried, newest first, exactly as sent.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn communications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<CommunicationConnection> {
        let page = PageRequest::parse(first, after.as_deref()).gql()?;
        let rows = crate::communications::service::of_customer(
            store(ctx),
            principal(ctx),
            CustomerId(self.0.id),
            page,
        )
        .await
        .gql()?;
        Ok(CommunicationConnection::from_page(rows, Communication))
    }
    /// Null for services.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        kinds: Option<Vec<TimelineKind>>,
    ) -> async_graphql::Result<Option<TimelineConnection>> {
        super::timeline::customer_timeline(ctx, self.0.id, first, after, kinds).await
    }
    /// Agents and admins; null for every other role.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn notes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<CustomerNoteConnection>> {
        super::timeline::customer_notes(ctx, self.0.id, first, after).await
    }
    async fn communication_preferences(&self) -> CommunicationPreferences {
        CommunicationPreferences {
            order_updates_by_email: self.0.order_updates_by_email,
        }
    }
}

/// At least one of email and identity.
#[derive(InputObject, Clone)]
pub struct CustomerInput {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub locale: Option<String>,
    pub identity: Option<ChannelIdentityInput>,
}

impl CustomerInput {
    /// Parses the input; refusals are placed under `prefix` (e.g. `customer`).
    pub fn parse(&self, prefix: &[&str]) -> Result<service::CustomerInput, Vec<Refusal>> {
        let mut refusals = Vec::new();
        let mut keep =
            |r: Result<String, Refusal>| r.map_err(|e| refusals.push(e.under(prefix))).ok();
        let first_name = self
            .first_name
            .as_deref()
            .and_then(|v| keep(check_text(v, "firstName", 100)));
        let last_name = self
            .last_name
            .as_deref()
            .and_then(|v| keep(check_text(v, "lastName", 100)));
        let phone = self
            .phone
            .as_deref()
            .and_then(|v| keep(check_phone(v, "phone")));
        let locale = self
            .locale
            .as_deref()
            .and_then(|v| keep(check_locale(v, "locale")));
        let email = self.email.as_deref().and_then(|v| {
            Email::parse(v, "email")
                .map_err(|e| refusals.push(e.under(prefix)))
                .ok()
        });
        let identity = self.identity.as_ref().and_then(|i| {
            i.parse("identity")
                .map_err(|e| refusals.push(e.under(prefix)))
                .ok()
        });
        if refusals.is_empty() {
            Ok(service::CustomerInput {
                email,
                first_name,
                last_name,
                phone,
                locale,
                identity,
            })
        } else {
            Err(refusals)
        }
    }
}

#[derive(SimpleObject)]
pub struct CustomerPayload {
    pub customer: Option<Customer>,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct UpdateCustomerInput {
    pub customer_id: ID,
    /// Omitted fields stay as they are; null clears an optional field.
    pub first_name: MaybeUndefined<String>,
    pub last_name: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub locale: MaybeUndefined<String>,
    pub order_updates_by_email: MaybeUndefined<bool>,
}

impl UpdateCustomerInput {
    fn parse(&self) -> Result<CustomerUpdate, Vec<Refusal>> {
        let mut refusals = Vec::new();
        let mut field = |value: &MaybeUndefined<String>,
                         check: &dyn Fn(&str) -> Result<String, Refusal>| {
            match value {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => check(v).map_err(|r| refusals.push(r)).ok().map(Some),
            }
        };
        let first_name = field(&self.first_name, &|v| check_text(v, "firstName", 100));
        let last_name = field(&self.last_name, &|v| check_text(v, "lastName", 100));
        let phone = field(&self.phone, &|v| check_phone(v, "phone"));
        let locale = match &self.locale {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => {
                refusals.push(Refusal::invalid(&["locale"], "locale cannot be cleared"));
                None
            }
            MaybeUndefined::Value(v) => {
                check_locale(v, "locale").map_err(|r| refusals.push(r)).ok()
            }
        };
        let order_updates_by_email = match self.order_updates_by_email {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => {
                refusals.push(Refusal::invalid(
                    &["orderUpdatesByEmail"],
                    "orderUpdatesByEmail cannot be cleared",
                ));
                None
            }
            MaybeUndefined::Value(v) => Some(v),
        };
        if refusals.is_empty() {
            Ok(CustomerUpdate {
                first_name,
                last_name,
                phone,
                locale,
                order_updates_by_email,
            })
        } else {
            Err(refusals)
        }
    }
}

/// Decodes a customer ID argument: malformed is BAD_USER_INPUT, another type is None.
pub fn customer_id(raw: &ID) -> async_graphql::Result<Option<CustomerId>> {
    let id = GlobalId::decode(raw).map_err(|_| malformed_id())?;
    Ok(id.of(NodeType::Customer).map(CustomerId))
}

#[derive(Default)]
pub struct CustomerQuery;

#[Object]
impl CustomerQuery {
    /// The calling customer.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Customer>> {
        Ok(service::me(store(ctx), principal(ctx))
            .await
            .gql()?
            .map(Customer))
    }

    async fn customer(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Customer>> {
        let Some(id) = customer_id(&id)? else {
            service::require_customer_reader(principal(ctx)).gql()?;
            return Ok(None);
        };
        Ok(service::get_customer(store(ctx), principal(ctx), id)
            .await
            .gql()?
            .map(Customer))
    }

    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<CustomerConnection> {
        principal(ctx).require(&[crate::auth::Role::Agent]).gql()?;
        let page = PageRequest::parse(first, after.as_deref()).gql()?;
        let rows = service::search_customers(store(ctx), principal(ctx), query.as_deref(), page)
            .await
            .gql()?;
        Ok(CustomerConnection::from_page(rows, Customer))
    }

    async fn customer_by_identity(
        &self,
        ctx: &Context<'_>,
        channel: Channel,
        external_id: String,
    ) -> async_graphql::Result<Option<Customer>> {
        let identity = Identity {
            channel: channel.into(),
            external_id,
        };
        Ok(
            service::customer_by_identity(store(ctx), principal(ctx), &identity)
                .await
                .gql()?
                .map(Customer),
        )
    }
}

#[derive(Default)]
pub struct CustomerMutation;

#[Object]
impl CustomerMutation {
    /// Services and agents: create or update a customer by email or channel identity.
    async fn upsert_customer(
        &self,
        ctx: &Context<'_>,
        input: CustomerInput,
    ) -> async_graphql::Result<CustomerPayload> {
        principal(ctx)
            .require(&[crate::auth::Role::Service, crate::auth::Role::Agent])
            .gql()?;
        let result = match input.parse(&[]) {
            Ok(input) => service::upsert_customer(store(ctx), principal(ctx), input).await,
            Err(refusals) => Err(ServiceError::Refused(refusals)),
        };
        let (customer, user_errors) = outcome(result)?;
        Ok(CustomerPayload {
            customer: customer.map(Customer),
            user_errors,
        })
    }

    async fn update_customer(
        &self,
        ctx: &Context<'_>,
        input: UpdateCustomerInput,
    ) -> async_graphql::Result<CustomerPayload> {
        principal(ctx)
            .require(&[crate::auth::Role::Customer, crate::auth::Role::Agent])
            .gql()?;
        let result = match (customer_id(&input.customer_id)?, input.parse()) {
            (None, _) => Err(Refusal::not_found(&["customerId"], "no such customer").into()),
            (Some(_), Err(refusals)) => Err(ServiceError::Refused(refusals)),
            (Some(id), Ok(update)) => {
                service::update_customer(store(ctx), principal(ctx), id, update).await
            }
        };
        let (customer, user_errors) = outcome(result)?;
        Ok(CustomerPayload {
            customer: customer.map(Customer),
            user_errors,
        })
    }
}
