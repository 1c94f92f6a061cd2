//! What marketing sees of a real customer: names, email, phone, street lines and the address's
//! coordinates replaced by sample values, the messages sent to the customer reduced to
//! placeholders, and no link to the order's tracking page (DESIGN.md, "Emails: data and
//! context").
//!
//! A data query's result is masked by the schema's field names, followed through the query, so
//! an alias (`mail: email`) or a fragment cannot carry a personal field past the mask.
use std::collections::HashMap;

use async_graphql::Positioned;
use async_graphql::parser::types::{FragmentDefinition, Selection};
use async_graphql_value::Name;
use serde_json::{Map, Value};

const SAMPLE_EMAIL: &str = "alex.sample@example.com";

/// The sample value of a personal field, by its name in the schema; `in_address` when the
/// object is an `Address`. None for a field that is not personal.
fn replacement(field: &str, in_address: bool) -> Option<Value> {
    Some(match field {
        "firstName" => Value::from("Alex"),
        "lastName" => Value::from("Sample"),
        "email" => Value::from(SAMPLE_EMAIL),
        "phone" => Value::Null,
        "line1" => Value::from("1 Sample Street"),
        "line2" => Value::Null,
        "externalId" => Value::from("sample-customer"),
        "name" if in_address => Value::from("Alex Sample"),
        "location" if in_address => Value::Null,
        // The order's own tracking page: a credential, null for marketing.
        "trackingPageUrl" => Value::Null,
        // A message sent to the customer: its recipient and what it said.
        "to" => Value::from(SAMPLE_EMAIL),
        "subject" => Value::from("A message to Alex Sample"),
        "html" | "text" => Value::from("The message as sent to Alex Sample."),
        _ => return None,
    })
}

/// Masks personal data in the result of the data query `query`, in place. Should the query not
/// parse (it ran, so it does), every object key is taken for a field name.
pub fn mask_result(query: &str, value: &mut Value) {
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        mask(value);
        return;
    };
    let fragments = &document.fragments;
    let Value::Object(map) = value else {
        return;
    };
    for (_, operation) in document.operations.iter() {
        mask_object(
            &operation.node.selection_set.node.items,
            fragments,
            map,
            false,
        );
    }
}

fn mask_object(
    selections: &[Positioned<Selection>],
    fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    map: &mut Map<String, Value>,
    in_address: bool,
) {
    for selection in selections {
        match &selection.node {
            Selection::Field(field) => {
                let field = &field.node;
                let name = field.name.node.as_str();
                let key = field.alias.as_ref().unwrap_or(&field.name).node.as_str();
                let Some(v) = map.get_mut(key) else {
                    continue;
                };
                match replacement(name, in_address) {
                    Some(r) if !v.is_null() => *v = r,
                    Some(_) => {}
                    None => mask_value(
                        &field.selection_set.node.items,
                        fragments,
                        v,
                        name == "address",
                    ),
                }
            }
            Selection::InlineFragment(fragment) => mask_object(
                &fragment.node.selection_set.node.items,
                fragments,
                map,
                in_address,
            ),
            Selection::FragmentSpread(spread) => {
                if let Some(definition) = fragments.get(&spread.node.fragment_name.node) {
                    mask_object(
                        &definition.node.selection_set.node.items,
                        fragments,
                        map,
                        in_address,
                    );
                }
            }
        }
    }
}

fn mask_value(
    selections: &[Positioned<Selection>],
    fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    value: &mut Value,
    in_address: bool,
) {
    match value {
        Value::Object(map) => mask_object(selections, fragments, map, in_address),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| mask_value(selections, fragments, item, in_address)),
        _ => {}
    }
}

/// Masks personal data anywhere in a template context, in place, taking every key for the
/// field it names.
pub fn mask(value: &mut Value) {
    mask_keys(value, false);
}

fn mask_keys(value: &mut Value, in_address: bool) {
    match value {
        Value::Object(map) => {
            let in_address = in_address || map.contains_key("line1");
            for (key, v) in map.iter_mut() {
                match replacement(key, in_address) {
                    Some(r) if !v.is_null() => *v = r,
                    Some(_) => {}
                    None => mask_keys(v, key == "address"),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask_keys(v, in_address)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_contacts_and_street_lines_are_replaced() {
        let mut v = serde_json::json!({
            "order": {
                "number": "TP-1",
                "customer": { "firstName": "Ada", "lastName": "Lovelace", "email": "ada@x.test", "phone": "+44 1" },
                "delivery": { "address": { "name": "Ada L", "line1": "1 Real Road", "line2": "Flat 2", "city": "London", "phone": "+44 2" } },
                "lines": [{ "name": "Tee" }]
            }
        });
        mask(&mut v);
        let o = &v["order"];
        assert_eq!(o["customer"]["firstName"], "Alex");
        assert_eq!(o["customer"]["email"], "alex.sample@example.com");
        assert!(o["customer"]["phone"].is_null());
        assert_eq!(o["delivery"]["address"]["line1"], "1 Sample Street");
        assert_eq!(o["delivery"]["address"]["name"], "Alex Sample");
        assert_eq!(o["delivery"]["address"]["city"], "London");
        assert_eq!(
            o["lines"][0]["name"], "Tee",
            "product names are not personal"
        );
        assert_eq!(o["number"], "TP-1");
    }

    #[test]
    fn aliases_and_fragments_do_not_escape_the_mask() {
        let query = "query Q($orderId: ID!) { order(id: $orderId) { number
            customer { mail: email ...Who ... on Customer { family: lastName } }
            delivery { address { who: name city where: location { latitude } } }
            lines { title: name }
            link: trackingPageUrl
            communications { to text subject } } }
            fragment Who on Customer { given: firstName }";
        let mut v = serde_json::json!({
            "order": {
                "number": "TP-1",
                "customer": { "mail": "ada@x.test", "given": "Ada", "family": "Lovelace" },
                "delivery": { "address": { "who": "Ada L", "city": "London", "where": { "latitude": 51.5 } } },
                "lines": [{ "title": "Tee" }],
                "link": "https://shop.test/t/secret-token",
                "communications": [{ "to": "ada@x.test", "text": "Dear Ada", "subject": "Thanks, Ada" }]
            }
        });
        mask_result(query, &mut v);
        let text = v.to_string();
        for secret in ["ada@x.test", "Ada", "Lovelace", "51.5", "secret-token"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let o = &v["order"];
        assert_eq!(o["customer"]["mail"], "alex.sample@example.com");
        assert_eq!(o["customer"]["given"], "Alex");
        assert_eq!(o["customer"]["family"], "Sample");
        assert_eq!(o["delivery"]["address"]["who"], "Alex Sample");
        assert_eq!(o["delivery"]["address"]["city"], "London");
        assert!(o["delivery"]["address"]["where"].is_null());
        assert_eq!(
            o["lines"][0]["title"], "Tee",
            "product names are not personal"
        );
        assert_eq!(o["number"], "TP-1");
    }

    #[test]
    fn an_address_name_is_masked_without_its_street() {
        let query =
            "query Q($orderId: ID!) { order(id: $orderId) { delivery { address { name } } } }";
        let mut v =
            serde_json::json!({ "order": { "delivery": { "address": { "name": "Ada L" } } } });
        mask_result(query, &mut v);
        assert_eq!(v["order"]["delivery"]["address"]["name"], "Alex Sample");
    }
}
