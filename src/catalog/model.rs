//! Catalogue and location types.
use crate::money::Money;

text_enum!(
    /// What a fulfilment node is.
    LocationKind {
        Warehouse = "WAREHOUSE",
        Store = "STORE",
        ThirdPartyLogistics = "THIRD_PARTY_LOGISTICS",
        Dropship = "DROPSHIP",
    }
);

/// A point on the globe, validated.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeoPoint {
    pub latitude: f64,
    pub longitude: f64,
}

impl GeoPoint {
    pub fn parse(latitude: f64, longitude: f64) -> Option<GeoPoint> {
        ((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude)).then_some(
            GeoPoint {
                latitude,
                longitude,
            },
        )
    }

    /// Great-circle distance in kilometres.
    pub fn distance_km(&self, other: &GeoPoint) -> f64 {
        let (lat1, lat2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.longitude - self.longitude).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        6371.0 * 2.0 * a.sqrt().asin()
    }
}

/// A product as written by `upsertProduct`, already validated.
#[derive(Clone, Debug)]
pub struct ProductInput {
    pub sku: String,
    pub name: String,
    pub category: Option<String>,
    pub image_url: Option<String>,
    pub care_instructions: Option<String>,
    pub returnable: Option<bool>,
    pub related_skus: Option<Vec<String>>,
    pub price: Option<Money>,
}

/// A location as written by `upsertLocation`, already validated.
#[derive(Clone, Debug)]
pub struct LocationInput {
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
    pub point: GeoPoint,
    pub pickup_point: Option<bool>,
    pub return_point: Option<bool>,
    pub shipping_cost: Option<Money>,
    pub handling_days: Option<i32>,
    pub country_code: Option<String>,
}

/// Filters of the `locations` query.
#[derive(Clone, Debug, Default)]
pub struct LocationFilter {
    pub kinds: Option<Vec<LocationKind>>,
    pub pickup_point: Option<bool>,
    pub return_point: Option<bool>,
}

/// A code or sku: non-empty, printable, at most 64 characters.
pub fn check_code(raw: &str, field: &str) -> Result<String, crate::error::Refusal> {
    let trimmed = raw.trim();
    if trimmed.is_empty()
        || trimmed.len() > 64
        || trimmed.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(crate::error::Refusal::invalid(
            &[field],
            format!("{field} must be 1 to 64 characters without spaces"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// A link or image address that emails and pages show: an absolute http(s) URL, bounded, with
/// no blanks, controls or quotes (so no `javascript:` or `data:` URL is ever stored).
pub fn check_http_url(raw: &str, field: &str, max: usize) -> Result<String, crate::error::Refusal> {
    let url = raw.trim();
    let lower = url.to_ascii_lowercase();
    let valid = (lower.starts_with("https://") || lower.starts_with("http://"))
        && url.len() > "http://".len()
        && url.chars().count() <= max
        && !url.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '`')
        });
    if valid {
        Ok(url.to_owned())
    } else {
        Err(crate::error::Refusal::invalid(
            &[field],
            format!("{field} must be an http(s) URL of at most {max} characters"),
        ))
    }
}

/// A required human-readable text: non-empty after trimming, bounded.
pub fn check_text(raw: &str, field: &str, max: usize) -> Result<String, crate::error::Refusal> {
    let trimmed = raw.trim();
    if trimmed.is_empty()
        || trimmed.chars().count() > max
        || trimmed.chars().any(|c| c.is_control())
    {
        return Err(crate::error::Refusal::invalid(
            &[field],
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}
