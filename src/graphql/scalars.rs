//! The contract's scalars: DateTime (UTC with Z), Date, Decimal (a string), and Money.
use async_graphql::{
    InputObject, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value,
};
use chrono::{NaiveDate, SecondsFormat, Utc};
use std::str::FromStr;

use crate::error::Refusal;
use crate::money;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| DateTime(d.with_timezone(&Utc)))
                .map_err(|_| {
                    InputValueError::custom(
                        "expected an RFC 3339 date-time such as 2026-11-27T10:00:00Z",
                    )
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        let format = if self.0.timestamp_subsec_nanos() == 0 {
            SecondsFormat::Secs
        } else {
            SecondsFormat::Millis
        };
        Value::String(self.0.to_rfc3339_opts(format, true))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom("expected a date such as 2026-11-27")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// A decimal number as a string; never a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal(pub rust_decimal::Decimal);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) if s.len() <= 40 && !s.contains(['e', 'E']) => {
                rust_decimal::Decimal::from_str(s.trim())
                    .map(Decimal)
                    .map_err(|_| {
                        InputValueError::custom(format!(
                            "`{s}` is not a decimal number such as \"19.99\""
                        ))
                    })
            }
            Value::String(s) => Err(InputValueError::custom(format!(
                "`{s}` is not a decimal number such as \"19.99\""
            ))),
            _ => Err(InputValueError::custom(
                "a Decimal is a string such as \"19.99\"",
            )),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct Money {
    pub amount: Decimal,
    pub currency_code: String,
}

impl From<money::Money> for Money {
    fn from(m: money::Money) -> Self {
        Money {
            amount: Decimal(m.amount()),
            currency_code: m.currency.code().to_owned(),
        }
    }
}

#[derive(InputObject, Clone, Debug)]
pub struct MoneyInput {
    pub amount: Decimal,
    pub currency_code: String,
}

impl MoneyInput {
    /// Parses into domain money; a refusal names `field` and the part at fault.
    pub fn parse(&self, field: &[&str]) -> Result<money::Money, Refusal> {
        money::Money::from_decimal(self.amount.0, &self.currency_code).map_err(|e| {
            let part = if e == money::MoneyError::Currency {
                "currencyCode"
            } else {
                "amount"
            };
            let mut path: Vec<&str> = field.to_vec();
            path.push(part);
            Refusal::invalid(&path, format!("{part} {e}"))
        })
    }
}
