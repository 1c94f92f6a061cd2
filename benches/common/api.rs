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
