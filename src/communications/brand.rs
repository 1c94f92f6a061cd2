//! The brand every email and page wears: one row, edited by marketing.
use chrono::Utc;
use sea_orm::{ActiveModelTrait, EntityTrait};

use crate::auth::{Principal, Role};
use crate::catalog::check_text;
use crate::db::Store;
use crate::db::entities::brand;
use crate::error::{Refusal, ServiceError, ServiceResult, is_unique_violation};

const ROW: i64 = 1;

/// The brand as it stands; the defaults until marketing changes them.
pub async fn get(store: &Store) -> ServiceResult<brand::Model> {
    if let Some(row) = brand::Entity::find_by_id(ROW).one(&store.db).await? {
        return Ok(row);
    }
    let row = defaults();
    match brand::ActiveModel::from(row.clone())
        .reset_all()
        .insert(&store.db)
        .await
    {
        Ok(inserted) => Ok(inserted),
        Err(e) if is_unique_violation(&e) => Ok(brand::Entity::find_by_id(ROW)
            .one(&store.db)
            .await?
            .unwrap_or(row)),
        Err(e) => Err(e.into()),
    }
}

fn defaults() -> brand::Model {
    brand::Model {
        id: ROW,
        name: "Touchpoint Store".into(),
        logo_url: None,
        primary_color: "#0F766E".into(),
        support_email: "support@touchpoint.example".into(),
        support_phone: None,
        website_url: None,
        updated_by: "factory".into(),
        updated_at: Utc::now(),
    }
}

/// The brand as templates see it (`{{brand.name}}`), named as the API names it.
pub fn context(b: &brand::Model) -> serde_json::Value {
    serde_json::json!({
        "name": b.name,
        "logoUrl": b.logo_url,
        "primaryColor": b.primary_color,
        "supportEmail": b.support_email,
        "supportPhone": b.support_phone,
        "websiteUrl": b.website_url,
    })
}

/// `updateBrand`: an omitted field stays as it is; an empty optional one is cleared.
#[derive(Clone, Debug, Default)]
pub struct BrandChange {
    pub name: Option<String>,
    pub logo_url: Option<String>,
    pub primary_color: Option<String>,
    pub support_email: Option<String>,
    pub support_phone: Option<String>,
    pub website_url: Option<String>,
}

fn check_url(raw: &str, field: &str) -> Result<Option<String>, Refusal> {
    let url = raw.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let valid = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 500
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"');
    if valid {
        Ok(Some(url.to_owned()))
    } else {
        Err(Refusal::invalid(
            &[field],
            format!("{field} must be an http(s) URL of at most 500 characters"),
        ))
    }
}

fn check_colour(raw: &str) -> Result<String, Refusal> {
    let c = raw.trim();
    let valid = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|d| d.is_ascii_hexdigit());
    if valid {
        Ok(c.to_uppercase())
    } else {
        Err(Refusal::invalid(
            &["primaryColor"],
            "primaryColor is a hex colour like #0F766E",
        ))
    }
}

fn check_email(raw: &str) -> Result<String, Refusal> {
    let e = raw.trim();
    e.parse::<lettre::Address>()
        .map(|_| e.to_owned())
        .map_err(|_| Refusal::invalid(&["supportEmail"], "supportEmail is not an email address"))
}

/// Marketing (and admins) change the brand; every change records who and when.
pub async fn update(
    store: &Store,
    principal: &Principal,
    change: BrandChange,
) -> ServiceResult<brand::Model> {
    principal.require(&[Role::Marketing])?;
    let mut row = get(store).await?;
    let mut refusals = Vec::new();
    let mut keep = |r: Result<(), Refusal>| {
        if let Err(e) = r {
            refusals.push(e);
        }
    };
    if let Some(name) = &change.name {
        keep(check_text(name, "name", 100).map(|n| row.name = n));
    }
    if let Some(url) = &change.logo_url {
        keep(check_url(url, "logoUrl").map(|u| row.logo_url = u));
    }
    if let Some(colour) = &change.primary_color {
        keep(check_colour(colour).map(|c| row.primary_color = c));
    }
    if let Some(email) = &change.support_email {
        keep(check_email(email).map(|e| row.support_email = e));
    }
    if let Some(phone) = &change.support_phone {
        keep(match phone.trim() {
            "" => {
                row.support_phone = None;
                Ok(())
            }
            p => crate::customers::check_phone(p, "supportPhone")
                .map(|p| row.support_phone = Some(p)),
        });
    }
    if let Some(url) = &change.website_url {
        // Templates append paths (`{{brand.websiteUrl}}/help`), so no trailing slash is kept.
        keep(
            check_url(url, "websiteUrl")
                .map(|u| row.website_url = u.map(|u| u.trim_end_matches('/').to_owned())),
        );
    }
    if !refusals.is_empty() {
        return Err(ServiceError::Refused(refusals));
    }
    row.updated_by = principal.key();
    row.updated_at = Utc::now();
    Ok(brand::ActiveModel::from(row)
        .reset_all()
        .update(&store.db)
        .await?)
}
