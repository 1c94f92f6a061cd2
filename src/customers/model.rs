//! Customer types.
use crate::error::Refusal;
use crate::orders::Channel;

/// An email address, checked at the edge.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str, field: &str) -> Result<Email, Refusal> {
        let value = raw.trim().to_lowercase();
        let valid = value.len() <= 254
            && !value
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '<' || c == '>')
            && match value.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !domain.contains("..")
                }
                None => false,
            }
            // What the mailer cannot address is refused here rather than failing every send.
            && value.parse::<lettre::Address>().is_ok();
        if valid {
            Ok(Email(value))
        } else {
            Err(Refusal::invalid(
                &[field],
                format!("`{}` is not a valid email address", raw.trim()),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A channel identity: web account, loyalty card, marketplace buyer id, phone.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    pub channel: Channel,
    pub external_id: String,
}

/// Who an incoming order or upsert is about; at least one of email and identity.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CustomerInput {
    pub email: Option<Email>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub locale: Option<String>,
    pub identity: Option<Identity>,
}

/// A change to a customer: `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct CustomerUpdate {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub locale: Option<String>,
    pub order_updates_by_email: Option<bool>,
}

pub const DEFAULT_LOCALE: &str = "en-GB";

/// A BCP 47-ish locale such as `en`, `en-GB`, `de-DE`.
pub fn check_locale(raw: &str, field: &str) -> Result<String, Refusal> {
    let ok = raw.len() <= 16
        && raw.split('-').enumerate().all(|(i, part)| {
            !part.is_empty()
                && part.len() <= 8
                && part.chars().all(|c| c.is_ascii_alphanumeric())
                && (i > 0 || part.len() <= 3)
        });
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(Refusal::invalid(
            &[field],
            format!("`{raw}` is not a locale such as en-GB"),
        ))
    }
}

/// A phone number: digits, spaces and + ( ) - only, 5 to 32 characters.
pub fn check_phone(raw: &str, field: &str) -> Result<String, Refusal> {
    let value = raw.trim();
    let digits = value.chars().filter(|c| c.is_ascii_digit()).count();
    if (5..=32).contains(&value.len())
        && digits >= 5
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || " +()-.".contains(c))
    {
        Ok(value.to_owned())
    } else {
        Err(Refusal::invalid(
            &[field],
            format!("`{value}` is not a phone number"),
        ))
    }
}
