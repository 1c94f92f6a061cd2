//! Demo data for `cargo run`: stores, warehouses, a catalogue with stock, and customers with
//! orders from every channel. Written through the services, so it obeys every rule.
use std::str::FromStr;

use chrono::{Duration, Utc};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use crate::auth::{Principal, Role};
use crate::catalog::{self, GeoPoint, LocationInput, LocationKind, ProductInput};
use crate::customers::{CustomerInput, Email, Identity};
use crate::db::Store;
use crate::db::entities::{order, shipment};
use crate::error::{ServiceError, StartupError};
use crate::fulfilment::{self, ShipmentStatus, StatusUpdate, TrackingUpdate};
use crate::ids::CustomerId;
use crate::inventory::{self, SetStock};
use crate::money::Money;
use crate::orders::{
    self, Address, Channel, DeliveryInput, DeliveryMethod, LineInput, PlaceOrder, SellerOfRecord,
};

/// What the seed created that `cargo run` prints tokens for.
pub struct DemoData {
    pub customers: Vec<(String, CustomerId)>,
    /// The number and tracking page token of an order with a delayed shipment.
    pub delayed_order: Option<(String, String)>,
}

fn eur(amount: &str) -> Money {
    Money::from_decimal(Decimal::from_str(amount).unwrap_or_default(), "EUR")
        .unwrap_or_else(|_| Money::new(0, crate::money::Currency::stored("EUR")))
}

fn seed_error(e: ServiceError) -> StartupError {
    StartupError::Config(format!("demo data: {e}"))
}

/// Moves each customer's web order along: one is late in transit, one delivered, one picking.
async fn advance_web_order(
    store: &Store,
    system: &Principal,
    order: &crate::db::entities::order::Model,
    n: usize,
) -> Result<(), ServiceError> {
    let shipments = fulfilment::shipments_by_order(store, &[order.id])
        .await?
        .remove(&order.id)
        .unwrap_or_default();
    for (k, shipment) in shipments.into_iter().enumerate() {
        let update = |status, carrier: Option<&str>| StatusUpdate {
            shipment_id: shipment.id,
            status,
            lines: None,
            carrier: carrier.map(String::from),
            tracking_number: carrier.map(|_| format!("DHL{}{}{}", 4_700_000 + n, order.id, k)),
            tracking_url: carrier.map(|_| {
                format!(
                    "https://tracking.example/dhl/DHL{}{}{}",
                    4_700_000 + n,
                    order.id,
                    k
                )
            }),
            estimated_delivery_date: None,
        };
        fulfilment::update_shipment_status(
            store,
            system,
            update(ShipmentStatus::Picking, None),
            None,
        )
        .await?;
        if n == 2 {
            continue;
        }
        let dispatched = fulfilment::update_shipment_status(
            store,
            system,
            update(ShipmentStatus::Dispatched, Some("DHL")),
            None,
        )
        .await?;
        let tracking = |status, hours: i64, estimate: Option<chrono::NaiveDate>| TrackingUpdate {
            carrier: "DHL".into(),
            tracking_number: dispatched.tracking_number.clone().unwrap_or_default(),
            status,
            occurred_at: Utc::now() - Duration::hours(hours),
            description: None,
            location: Some("Hub".into()),
            estimated_delivery_date: estimate,
            event_id: None,
        };
        let late = order.promised_date.map(|d| d + Duration::days(2));
        fulfilment::record_tracking_event(
            store,
            system,
            tracking(ShipmentStatus::InTransit, 30, late.filter(|_| n == 0)),
        )
        .await?;
        if n == 1 {
            fulfilment::record_tracking_event(
                store,
                system,
                tracking(ShipmentStatus::Delivered, 2, None),
            )
            .await?;
        }
    }
    Ok(())
}

/// The customer of the delivered web order sends one item back by carrier.
async fn start_return(
    store: &Store,
    policy: &crate::returns::ReturnPolicy,
    order: &order::Model,
) -> Result<(), ServiceError> {
    let customer = Principal::Customer(CustomerId(order.customer_id));
    let first = orders::lines_by_order(store, &[order.id])
        .await?
        .remove(&order.id)
        .unwrap_or_default()
        .into_iter()
        .next();
    let Some(line) = first else { return Ok(()) };
    let request = crate::returns::NewReturn {
        order_id: crate::ids::OrderId(order.id),
        lines: vec![crate::returns::RequestedLine {
            line_id: line.id,
            quantity: 1,
            reason: "Too small".into(),
        }],
        method: crate::returns::ReturnMethod::Carrier,
        return_location_code: None,
        channel: Some(Channel::Web),
        override_reason: None,
        reason: None,
    };
    crate::returns::request_return(store, &customer, policy, request, None).await?;
    Ok(())
}

/// Seeds when the database has no orders yet.
pub async fn seed_if_empty(
    store: &Store,
    policy: &crate::returns::ReturnPolicy,
) -> Result<Option<DemoData>, StartupError> {
    if order::Entity::find().count(&store.db).await? > 0 {
        return Ok(None);
    }
    seed(store, policy).await.map(Some).map_err(seed_error)
}

async fn seed(
    store: &Store,
    policy: &crate::returns::ReturnPolicy,
) -> Result<DemoData, ServiceError> {
    let weights = crate::routing::engine::Weights::default();
    let system = Principal::Staff {
        role: Role::Admin,
        sub: "demo-seed".into(),
        scopes: None,
    };
    let locations = [
        (
            "WH-BER",
            "Berlin warehouse",
            LocationKind::Warehouse,
            52.52,
            13.40,
            false,
            false,
            "4.90",
            1,
            "DE",
        ),
        (
            "WH-MAD",
            "Madrid warehouse",
            LocationKind::Warehouse,
            40.42,
            -3.70,
            false,
            false,
            "5.90",
            1,
            "ES",
        ),
        (
            "ST-PAR",
            "Paris Rivoli store",
            LocationKind::Store,
            48.86,
            2.35,
            true,
            true,
            "6.90",
            0,
            "FR",
        ),
        (
            "ST-MUC",
            "Munich Kaufingerstrasse store",
            LocationKind::Store,
            48.14,
            11.57,
            true,
            true,
            "5.90",
            0,
            "DE",
        ),
        (
            "ST-AMS",
            "Amsterdam Kalverstraat store",
            LocationKind::Store,
            52.37,
            4.89,
            true,
            true,
            "5.90",
            0,
            "NL",
        ),
    ];
    for (code, name, kind, lat, lon, pickup, ret, cost, days, country) in locations {
        catalog::upsert_location(
            store,
            &system,
            LocationInput {
                code: code.into(),
                name: name.into(),
                kind,
                point: GeoPoint {
                    latitude: lat,
                    longitude: lon,
                },
                pickup_point: Some(pickup),
                return_point: Some(ret),
                shipping_cost: Some(eur(cost)),
                handling_days: Some(days),
                country_code: Some(country.into()),
            },
        )
        .await?;
    }
    let products = [
        (
            "TEE-WHT-M",
            "Organic cotton tee, white, M",
            "Tops",
            "29.90",
            vec!["TEE-BLK-M", "CHINO-BEI-32"],
        ),
        (
            "TEE-BLK-M",
            "Organic cotton tee, black, M",
            "Tops",
            "29.90",
            vec!["TEE-WHT-M"],
        ),
        (
            "CHINO-BEI-32",
            "Slim chinos, beige, 32",
            "Trousers",
            "69.00",
            vec!["BELT-BRN"],
        ),
        (
            "BELT-BRN",
            "Leather belt, brown",
            "Accessories",
            "39.50",
            vec![],
        ),
        (
            "SNEAK-WHT-42",
            "Court sneakers, white, 42",
            "Shoes",
            "119.00",
            vec!["SOCK-3PK"],
        ),
        (
            "SOCK-3PK",
            "Merino socks, three pairs",
            "Accessories",
            "19.90",
            vec![],
        ),
    ];
    for (sku, name, category, price, related) in products {
        catalog::upsert_product(
            store,
            &system,
            ProductInput {
                sku: sku.into(),
                name: name.into(),
                category: Some(category.into()),
                image_url: Some(format!(
                    "https://images.touchpoint.example/{}.jpg",
                    sku.to_lowercase()
                )),
                care_instructions: Some("Machine wash at 30°C. Do not tumble dry.".into()),
                returnable: Some(sku != "SOCK-3PK"),
                related_skus: Some(related.into_iter().map(String::from).collect()),
                price: Some(eur(price)),
            },
        )
        .await?;
        for (code, on_hand) in [
            ("WH-BER", 120),
            ("WH-MAD", 60),
            ("ST-PAR", 8),
            ("ST-MUC", 5),
            ("ST-AMS", 3),
        ] {
            inventory::set_stock_level(
                store,
                &system,
                SetStock {
                    location_code: code.into(),
                    sku: sku.into(),
                    on_hand,
                    expected_on_hand: None,
                },
            )
            .await?;
        }
    }

    let people = [
        (
            "ada@example.com",
            "Ada",
            "Lovelace",
            "+44 20 7946 0001",
            "en-GB",
            Channel::Web,
            "web-ada",
        ),
        (
            "jean@example.fr",
            "Jean",
            "Moulin",
            "+33 1 70 36 00 02",
            "fr-FR",
            Channel::Store,
            "LOYALTY-7781",
        ),
        (
            "grete@example.de",
            "Grete",
            "Weiss",
            "+49 30 901820 03",
            "de-DE",
            Channel::Marketplace,
            "AMZ-B0042",
        ),
    ];
    let mut customers = Vec::new();
    let now = Utc::now();
    for (n, (email, first, last, phone, locale, channel, external)) in
        people.into_iter().enumerate()
    {
        let customer = CustomerInput {
            email: Email::parse(email, "email").ok(),
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            phone: Some(phone.into()),
            locale: Some(locale.into()),
            identity: Some(Identity {
                channel,
                external_id: external.into(),
            }),
        };
        let address = Address {
            name: format!("{first} {last}"),
            line1: ["1 Mayfair Place", "12 rue de Rivoli", "Unter den Linden 5"][n].into(),
            line2: None,
            city: ["London", "Paris", "Berlin"][n].into(),
            postal_code: ["W1J 8AJ", "75001", "10117"][n].into(),
            country_code: ["GB", "FR", "DE"][n].into(),
            phone: Some(phone.into()),
            location: Some(
                [
                    GeoPoint {
                        latitude: 51.51,
                        longitude: -0.14,
                    },
                    GeoPoint {
                        latitude: 48.86,
                        longitude: 2.35,
                    },
                    GeoPoint {
                        latitude: 52.52,
                        longitude: 13.39,
                    },
                ][n],
            ),
        };
        let line = |sku: &str, quantity| LineInput {
            sku: sku.into(),
            name: None,
            quantity,
            unit_price: None,
        };
        let ship = |days| DeliveryInput {
            method: DeliveryMethod::ShipToAddress,
            address: Some(address.clone()),
            collection_store_code: None,
            promised_date: Some((now + Duration::days(days)).date_naive()),
        };
        let orders_for: Vec<PlaceOrder> = vec![
            PlaceOrder {
                channel: Channel::Web,
                channel_order_ref: format!("WEB-{}", 5001 + n),
                store_code: None,
                marketplace: None,
                seller_of_record: None,
                customer: Some(customer.clone()),
                lines: vec![line("TEE-WHT-M", 2), line("CHINO-BEI-32", 1)],
                delivery: ship(4),
                shipping_cost: None,
                placed_at: Some(now - Duration::days(9)),
            },
            PlaceOrder {
                channel: Channel::App,
                channel_order_ref: format!("APP-{}", 7001 + n),
                store_code: None,
                marketplace: None,
                seller_of_record: None,
                customer: Some(customer.clone()),
                lines: vec![line("SNEAK-WHT-42", 1)],
                delivery: DeliveryInput {
                    method: DeliveryMethod::ClickAndCollect,
                    address: None,
                    collection_store_code: Some(["ST-PAR", "ST-PAR", "ST-MUC"][n].into()),
                    promised_date: Some((now + Duration::days(2)).date_naive()),
                },
                shipping_cost: None,
                placed_at: Some(now - Duration::days(3)),
            },
            PlaceOrder {
                channel: Channel::Marketplace,
                channel_order_ref: format!("{}", 1001 + n),
                store_code: None,
                marketplace: Some("zalando".into()),
                seller_of_record: Some(SellerOfRecord::Retailer),
                customer: Some(customer.clone()),
                lines: vec![line("BELT-BRN", 1), line("SOCK-3PK", 2)],
                delivery: ship(5),
                shipping_cost: None,
                placed_at: Some(now - Duration::days(1)),
            },
            PlaceOrder {
                channel: Channel::Store,
                channel_order_ref: format!("TILL-3-{}", 880 + n),
                store_code: Some("ST-PAR".into()),
                marketplace: None,
                seller_of_record: None,
                customer: Some(customer.clone()),
                lines: vec![line("TEE-BLK-M", 1)],
                delivery: DeliveryInput {
                    method: DeliveryMethod::CarryOut,
                    address: None,
                    collection_store_code: None,
                    promised_date: None,
                },
                shipping_cost: None,
                placed_at: Some(now - Duration::days(20)),
            },
        ];
        let mut id = None;
        for (k, order) in orders_for.into_iter().enumerate() {
            let placed = orders::place_order(store, &system, order, &weights).await?;
            id = Some(CustomerId(placed.order.customer_id));
            if k == 0 {
                advance_web_order(store, &system, &placed.order, n).await?;
                if n == 1 {
                    start_return(store, policy, &placed.order).await?;
                }
            }
        }
        let phone_order = PlaceOrder {
            channel: Channel::Phone,
            channel_order_ref: format!("CALL-{}", 301 + n),
            store_code: None,
            marketplace: None,
            seller_of_record: None,
            customer: Some(customer.clone()),
            lines: vec![line("SOCK-3PK", 1)],
            delivery: ship(3),
            shipping_cost: Some((&eur("0.00")).into()),
            placed_at: Some(now - Duration::hours(5)),
        };
        orders::place_order(store, &system, phone_order, &weights).await?;
        if let Some(id) = id {
            customers.push((format!("{first} {last}"), id));
        }
    }
    let delayed = shipment::Entity::find()
        .filter(shipment::Column::IsDelayed.eq(true))
        .order_by_asc(shipment::Column::Id)
        .one(&store.db)
        .await?;
    let delayed_order = match delayed {
        Some(s) => order::Entity::find_by_id(s.order_id)
            .one(&store.db)
            .await?
            .and_then(|o| o.tracking_token.map(|token| (o.number, token))),
        None => None,
    };
    Ok(DemoData {
        customers,
        delayed_order,
    })
}
