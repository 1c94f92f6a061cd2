//! The GraphQL schema: one query/mutation part per area, merged; thin resolvers over the services.
pub mod batch;
pub mod catalog;
pub mod communications;
pub mod connection;
pub mod customers;
pub mod documents;
pub mod errors;
pub mod fulfilment;
pub mod loaders;
pub mod metrics;
pub mod operation;
pub mod orders;
pub mod returns;
pub mod routing;
pub mod scalars;
pub mod selfservice;
pub mod templates;
pub mod timeline;
pub mod tracking;

use std::sync::Arc;

use async_graphql::{Context, ID, Interface, MergedObject, Object, SDLExportOptions, Schema};

use crate::auth::Principal;
use crate::config::Limits;
use crate::db::Store;
use crate::error::ServiceError;
use crate::events::bus::Bus;
use crate::ids::{CustomerId, GlobalId, NodeType, OrderId, ReturnId};
use crate::telemetry::Metrics;
use batch::Batcher;
use errors::{GqlResult, gql_error, malformed_id};

pub type TouchpointSchema = Schema<Query, Mutation, timeline::Subscription>;

#[derive(MergedObject, Default)]
pub struct Query(
    NodeQuery,
    customers::CustomerQuery,
    orders::OrderQuery,
    catalog::CatalogQuery,
    fulfilment::FulfilmentQuery,
    fulfilment::SubstitutionQuery,
    routing::RoutingQuery,
    returns::ReturnsQuery,
    communications::CommunicationsQuery,
    templates::TemplatesQuery,
    tracking::TrackingQuery,
    metrics::MetricsQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    catalog::CatalogMutation,
    customers::CustomerMutation,
    orders::OrderMutation,
    fulfilment::FulfilmentMutation,
    fulfilment::SubstitutionMutation,
    selfservice::SelfServiceMutation,
    timeline::TimelineMutation,
    returns::ReturnsMutation,
    communications::CommunicationsMutation,
    templates::TemplatesMutation,
);

/// Every object with a global ID.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
#[allow(clippy::large_enum_variant)]
pub enum Node {
    Customer(customers::Customer),
    CustomerNote(timeline::CustomerNote),
    Product(catalog::Product),
    Location(catalog::Location),
    Order(orders::Order),
    OrderLine(orders::OrderLine),
    Shipment(fulfilment::Shipment),
    Substitution(fulfilment::Substitution),
    Return(returns::Return),
    Communication(communications::Communication),
    TimelineEntry(timeline::TimelineEntry),
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global ID; null when it is missing or not the caller's.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let id = GlobalId::decode(&id).map_err(|_| malformed_id())?;
        let (store, principal) = (store(ctx), principal(ctx));
        Ok(match id.node_type {
            NodeType::Customer => {
                crate::customers::get_customer(store, principal, CustomerId(id.id))
                    .await
                    .gql()?
                    .map(|c| Node::Customer(customers::Customer(c)))
            }
            NodeType::Order => crate::orders::get_order(store, principal, OrderId(id.id))
                .await
                .gql()?
                .map(|o| Node::Order(orders::Order(o))),
            NodeType::OrderLine => match crate::orders::get_line(store, principal, id.id)
                .await
                .gql()?
            {
                Some(line) => {
                    let order = crate::orders::get_order(store, principal, OrderId(line.order_id))
                        .await
                        .gql()?;
                    order.map(|o| {
                        Node::OrderLine(orders::OrderLine {
                            line,
                            currency: o.currency,
                        })
                    })
                }
                None => None,
            },
            NodeType::Product => crate::catalog::product_by_id(store, id.id)
                .await
                .gql()?
                .map(|p| Node::Product(catalog::Product(p))),
            NodeType::Location => crate::catalog::location_for(store, principal, id.id)
                .await
                .gql()?
                .map(|l| Node::Location(catalog::Location(l))),
            NodeType::CustomerNote => timeline::note_node(ctx, id.id)
                .await?
                .map(Node::CustomerNote),
            NodeType::TimelineEntry => timeline::entry_node(ctx, id.id)
                .await?
                .map(Node::TimelineEntry),
            NodeType::Shipment => crate::fulfilment::get_shipment(store, principal, id.id)
                .await
                .gql()?
                .map(|s| Node::Shipment(fulfilment::Shipment::of(s))),
            NodeType::Substitution => crate::fulfilment::get_substitution(store, principal, id.id)
                .await
                .gql()?
                .map(|s| Node::Substitution(fulfilment::Substitution(s))),
            NodeType::Return => crate::returns::get_return(store, principal, ReturnId(id.id))
                .await
                .gql()?
                .map(|r| Node::Return(returns::Return(r))),
            NodeType::Communication => crate::communications::service::get(store, principal, id.id)
                .await
                .gql()?
                .map(|c| Node::Communication(communications::Communication(c))),
        })
    }
}

/// Shared state every resolver reaches through the schema's data.
pub struct SchemaState {
    pub store: Store,
    pub bus: Bus,
    pub metrics: Arc<Metrics>,
    pub routing: crate::routing::engine::Weights,
    pub returns: crate::returns::ReturnPolicy,
    /// The base of links the API hands out (return labels), without a trailing slash.
    pub public_url: String,
    /// The email outbox: previews and test sends (none in the email sample's own schema).
    pub outbox: Option<Arc<crate::communications::Outbox>>,
}

pub fn state<'a>(ctx: &Context<'a>) -> &'a SchemaState {
    ctx.data_unchecked::<SchemaState>()
}

pub fn store<'a>(ctx: &Context<'a>) -> &'a Store {
    &state(ctx).store
}

/// The caller; absent request data means an anonymous caller.
pub fn principal<'a>(ctx: &Context<'a>) -> &'a Principal {
    static ANONYMOUS: Principal = Principal::Anonymous;
    ctx.data_opt::<Principal>().unwrap_or(&ANONYMOUS)
}

pub fn loader<'a>(ctx: &Context<'a>) -> &'a Batcher {
    ctx.data_unchecked::<Batcher>()
}

/// A failed batch load: logged once, reported as INTERNAL.
pub fn load_error(err: Arc<ServiceError>) -> async_graphql::Error {
    gql_error(ServiceError::Internal(err.to_string()))
}

/// Assembles the schema with its limits. The alias limit and the root-field metrics are applied
/// around execution (see `operation`): a schema extension would hook every field.
pub fn build_schema(state: SchemaState, limits: &Limits, production: bool) -> TouchpointSchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        timeline::Subscription,
    )
    .data(state)
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .limit_recursive_depth(limits.max_bracket_depth)
    .limit_directives(20);
    if production {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The SDL that `schema.graphql` holds.
pub fn schema_sdl() -> String {
    Schema::build(
        Query::default(),
        Mutation::default(),
        timeline::Subscription,
    )
    .finish()
    .sdl_with_options(SDLExportOptions::new().sorted_fields().sorted_enum_items())
}
