//! Email templates: the factory defaults shipped in `templates/email/`, and the versions in the
//! database that marketing edits. The factory files become version 1 on first start.
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::kinds::NotificationKind;
use crate::db::Store;
use crate::db::entities::{email_template, email_template_version};
use crate::error::{ServiceResult, is_unique_violation};

/// The locale every kind has; other locales fall back to it.
pub const DEFAULT_LOCALE: &str = "en";

/// The four parts of a template.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TemplateSource {
    pub subject: String,
    /// MJML with Handlebars.
    pub html: String,
    /// Plain text with Handlebars; derived from the HTML when absent.
    pub text: Option<String>,
    /// The GraphQL query whose data (plus `brand`) is the Handlebars context.
    pub data_query: String,
}

impl From<&email_template_version::Model> for TemplateSource {
    fn from(v: &email_template_version::Model) -> Self {
        TemplateSource {
            subject: v.subject.clone(),
            html: v.html.clone(),
            text: v.text.clone(),
            data_query: v.data_query.clone(),
        }
    }
}

macro_rules! factory_kinds {
    ($($kind:ident => $folder:literal),+ $(,)?) => {
        /// The factory default of a kind, as shipped in the binary.
        pub fn factory(kind: NotificationKind) -> TemplateSource {
            match kind {
                $(NotificationKind::$kind => TemplateSource {
                    subject: include_str!(concat!("../../templates/email/", $folder, "/subject.hbs")).trim().to_owned(),
                    html: include_str!(concat!("../../templates/email/", $folder, "/body.html.hbs")).to_owned(),
                    text: Some(include_str!(concat!("../../templates/email/", $folder, "/body.txt.hbs")).to_owned()),
                    data_query: include_str!(concat!("../../templates/email/", $folder, "/data.graphql")).to_owned(),
                },)+
            }
        }
    };
}

factory_kinds! {
    OrderConfirmation => "order_confirmation",
    OrderModified => "order_modified",
    OrderCancelled => "order_cancelled",
    ShipmentDispatched => "shipment_dispatched",
    ShipmentDelayed => "shipment_delayed",
    OutForDelivery => "out_for_delivery",
    Delivered => "delivered",
    ReadyForCollection => "ready_for_collection",
    SubstitutionProposed => "substitution_proposed",
    ReturnRequested => "return_requested",
    ReturnReceived => "return_received",
    RefundIssued => "refund_issued",
}

macro_rules! partials {
    ($($name:literal => $path:literal),+ $(,)?) => {
        /// The shared layouts and partials, by the name templates use them with.
        pub const PARTIALS: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../templates/email/", $path)))),+
        ];
    };
}

partials! {
    "email_html" => "layouts/email_html.hbs",
    "email_text" => "layouts/email_text.hbs",
    "header_html" => "partials/header_html.hbs",
    "footer_html" => "partials/footer_html.hbs",
    "footer_text" => "partials/footer_text.hbs",
    "order_summary_html" => "partials/order_summary_html.hbs",
    "order_summary_text" => "partials/order_summary_text.hbs",
    "help_links_html" => "partials/help_links_html.hbs",
    "help_links_text" => "partials/help_links_text.hbs",
    "recommendation_html" => "partials/recommendation_html.hbs",
}

/// On first start, every kind's factory default becomes version 1 of the default locale,
/// published. Several instances starting at once insert it once.
pub async fn ensure_defaults(store: &Store) -> ServiceResult<()> {
    let existing = email_template::Entity::find()
        .filter(email_template::Column::Locale.eq(DEFAULT_LOCALE))
        .all(&store.db)
        .await?;
    for kind in NotificationKind::ALL.iter().copied() {
        if existing.iter().any(|t| t.kind == kind.as_str()) {
            continue;
        }
        let txn = store.begin_write().await?;
        match seed_factory(&*txn, kind).await {
            Ok(()) => txn.commit().await?,
            Err(crate::error::ServiceError::Database(e)) if is_unique_violation(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn seed_factory(conn: &impl ConnectionTrait, kind: NotificationKind) -> ServiceResult<()> {
    let now = Utc::now();
    let source = factory(kind);
    email_template::ActiveModel {
        kind: Set(kind.as_str().to_owned()),
        locale: Set(DEFAULT_LOCALE.to_owned()),
        published_version: Set(Some(1)),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    email_template_version::ActiveModel {
        kind: Set(kind.as_str().to_owned()),
        locale: Set(DEFAULT_LOCALE.to_owned()),
        version: Set(1),
        subject: Set(source.subject),
        html: Set(source.html),
        text: Set(source.text),
        data_query: Set(source.data_query),
        author: Set("factory".to_owned()),
        created_at: Set(now),
        published_at: Set(Some(now)),
        published_by: Set(Some("factory".to_owned())),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// The published version a message of this kind uses in this locale: the locale's own, or the
/// default locale's when it has none.
pub async fn published(
    conn: &impl ConnectionTrait,
    kind: NotificationKind,
    locale: &str,
) -> ServiceResult<Option<email_template_version::Model>> {
    for candidate in [locale, DEFAULT_LOCALE] {
        let head = email_template::Entity::find()
            .filter(email_template::Column::Kind.eq(kind.as_str()))
            .filter(email_template::Column::Locale.eq(candidate))
            .one(conn)
            .await?;
        if let Some(version) = head.and_then(|h| h.published_version) {
            return Ok(email_template_version::Entity::find()
                .filter(email_template_version::Column::Kind.eq(kind.as_str()))
                .filter(email_template_version::Column::Locale.eq(candidate))
                .filter(email_template_version::Column::Version.eq(version))
                .one(conn)
                .await?);
        }
    }
    Ok(None)
}
