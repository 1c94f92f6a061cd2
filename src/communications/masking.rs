//! What marketing sees of a real customer: names, email, phone and street lines replaced by
//! sample values (DESIGN.md, "Emails: data and context").
use serde_json::Value;

/// Masks personal data anywhere in a template context, in place.
pub fn mask(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let is_address = map.contains_key("line1");
            for (key, v) in map.iter_mut() {
                let replacement = match key.as_str() {
                    "firstName" => Some(Value::from("Alex")),
                    "lastName" => Some(Value::from("Sample")),
                    "email" => Some(Value::from("alex.sample@example.com")),
                    "phone" => Some(Value::Null),
                    "line1" => Some(Value::from("1 Sample Street")),
                    "line2" => Some(Value::Null),
                    "name" if is_address => Some(Value::from("Alex Sample")),
                    _ => None,
                };
                match replacement {
                    Some(r) if !v.is_null() => *v = r,
                    Some(_) => {}
                    None => mask(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
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
}
