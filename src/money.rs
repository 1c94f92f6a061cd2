//! Money: integer minor units with an ISO 4217 currency; printed at the currency's scale.
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// An ISO 4217 code, upper case, three letters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Currency(String);

impl Currency {
    pub fn parse(raw: &str) -> Option<Currency> {
        (raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()))
            .then(|| Currency(raw.to_owned()))
    }

    /// A code read back from the database, where only parsed codes are written.
    pub fn stored(code: &str) -> Currency {
        Currency(code.to_owned())
    }

    pub fn code(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point in this currency's minor unit.
    pub fn scale(&self) -> u32 {
        match self.0.as_str() {
            "JPY" | "KRW" | "ISK" | "CLP" | "VND" | "HUF" | "PYG" | "UGX" | "XAF" | "XOF" => 0,
            "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
            _ => 2,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("is not a valid ISO 4217 currency code")]
    Currency,
    #[error("has more decimal places than the currency allows")]
    Precision,
    #[error("is out of range")]
    Range,
    #[error("must not be negative")]
    Negative,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// Parses an amount that must fit the currency's minor unit exactly and not be negative.
    pub fn from_decimal(amount: Decimal, currency_code: &str) -> Result<Money, MoneyError> {
        let currency = Currency::parse(currency_code).ok_or(MoneyError::Currency)?;
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(MoneyError::Negative);
        }
        let scale = currency.scale();
        let normalized = amount.normalize();
        if normalized.scale() > scale {
            return Err(MoneyError::Precision);
        }
        let minor = (normalized * Decimal::from(10i64.pow(scale)))
            .to_i64()
            .filter(|m| *m < 1_000_000_000_000_000)
            .ok_or(MoneyError::Range)?;
        Ok(Money { minor, currency })
    }

    /// The amount at the currency's scale ("19.90", never "19.9").
    pub fn amount(&self) -> Decimal {
        Decimal::new(self.minor, self.currency.scale())
    }

    pub fn times(&self, quantity: i32) -> Money {
        Money::new(
            self.minor.saturating_mul(i64::from(quantity)),
            self.currency.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn prints_at_minor_scale() {
        let m = Money::from_decimal(Decimal::from_str("19.9").unwrap(), "EUR").unwrap();
        assert_eq!(m.minor, 1990);
        assert_eq!(m.amount().to_string(), "19.90");
        let y = Money::from_decimal(Decimal::from_str("1500").unwrap(), "JPY").unwrap();
        assert_eq!(y.amount().to_string(), "1500");
    }

    #[test]
    fn refuses_bad_amounts() {
        let d = |s| Decimal::from_str(s).unwrap();
        assert_eq!(
            Money::from_decimal(d("1.999"), "EUR"),
            Err(MoneyError::Precision)
        );
        assert_eq!(
            Money::from_decimal(d("-1"), "EUR"),
            Err(MoneyError::Negative)
        );
        assert_eq!(
            Money::from_decimal(d("1"), "eur"),
            Err(MoneyError::Currency)
        );
        assert_eq!(
            Money::from_decimal(d("1.5"), "JPY"),
            Err(MoneyError::Precision)
        );
    }
}
