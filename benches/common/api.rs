//! GraphQL over HTTP for a benchmark's setup (seeding): one request at a time, every error
//! reported with the query that caused it.

use std::time::Duration;

use serde_json::{Value, json};

/// POST /graphql; the `data` of a response without top-level errors.
pub async fn graphql(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Result<Value, String> {
    let response = http
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| format!("POST /graphql: {e}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("POST /graphql ({status}): body is not JSON: {e}"))?;
    if !status.is_success() || body.get("errors").is_some_and(|e| !e.is_null()) {
        return Err(format!("POST /graphql ({status}) for `{query}`: {body}"));
    }
    Ok(body["data"].clone())
}

/// The payload `data[field]` of a mutation, which must carry no userErrors.
pub async fn mutate(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    field: &str,
    query: &str,
    input: Value,
) -> Result<Value, String> {
    let data = graphql(http, base, token, query, json!({ "input": input })).await?;
    let payload = data[field].clone();
    match payload["userErrors"].as_array() {
        Some(errors) if errors.is_empty() => Ok(payload),
        _ => Err(format!("{field}: {payload}")),
    }
}

/// `upsertLocation` with `input`.
pub async fn upsert_location(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    input: Value,
) -> Result<Value, String> {
    mutate(
        http,
        base,
        token,
        "upsertLocation",
        "mutation($input: UpsertLocationInput!) { upsertLocation(input: $input) {
            location { code } userErrors { field code message } } }",
        input,
    )
    .await
}

/// `upsertProduct` with `input`.
pub async fn upsert_product(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    input: Value,
) -> Result<Value, String> {
    mutate(
        http,
        base,
        token,
        "upsertProduct",
        "mutation($input: UpsertProductInput!) { upsertProduct(input: $input) {
            product { sku } userErrors { field code message } } }",
        input,
    )
    .await
}

/// `setStockLevel`: `on_hand` units of `sku` at `location`.
pub async fn set_stock_level(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    location: &str,
    sku: &str,
    on_hand: i64,
) -> Result<Value, String> {
    mutate(
        http,
        base,
        token,
        "setStockLevel",
        "mutation($input: SetStockLevelInput!) { setStockLevel(input: $input) {
            stockLevel { onHand } userErrors { field code message } } }",
        json!({ "locationCode": location, "sku": sku, "onHand": on_hand }),
    )
    .await
}
