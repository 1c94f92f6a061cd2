//! Marketing's email templates: versions, drafts, publishing, previews and test sends.
use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};

use super::communications::{Communication, NotificationKind};
use super::errors::{GqlResult, UserError, gql_error, malformed_id, outcome};
use super::scalars::DateTime;
use super::{principal, state};
use crate::communications::editor::{self, Target, TemplateState};
use crate::communications::templates::TemplateSource;
use crate::communications::{self as comms, Outbox};
use crate::db::entities::email_template_version;
use crate::error::ServiceError;
use crate::ids::{GlobalId, NodeType};

#[derive(SimpleObject, Clone)]
pub struct TemplateVersion {
    pub version: i32,
    pub subject: String,
    pub html: String,
    pub text: Option<String>,
    pub data_query: String,
    pub author: String,
    pub created_at: DateTime,
    pub published_at: Option<DateTime>,
    /// Who last published it.
    pub published_by: Option<String>,
}

impl From<email_template_version::Model> for TemplateVersion {
    fn from(v: email_template_version::Model) -> Self {
        TemplateVersion {
            version: v.version,
            subject: v.subject,
            html: v.html,
            text: v.text,
            data_query: v.data_query,
            author: v.author,
            created_at: DateTime(v.created_at),
            published_at: v.published_at.map(DateTime),
            published_by: v.published_by,
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct EmailTemplate {
    pub kind: NotificationKind,
    pub locale: String,
    pub published: Option<TemplateVersion>,
    pub draft: Option<TemplateVersion>,
    /// Every saved version, newest first.
    pub versions: Vec<TemplateVersion>,
}

impl From<TemplateState> for EmailTemplate {
    fn from(s: TemplateState) -> Self {
        EmailTemplate {
            kind: s.kind.into(),
            locale: s.locale,
            published: s.published.map(Into::into),
            draft: s.draft.map(Into::into),
            versions: s.versions.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct RenderedEmail {
    pub subject: String,
    pub html: String,
    pub text: String,
}

#[derive(SimpleObject, Clone)]
pub struct EmailPreview {
    pub email: Option<RenderedEmail>,
    /// The data the template saw (the data query's result plus brand); personal data masked for marketing.
    pub context: Option<Json<serde_json::Value>>,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct TemplateDraftInput {
    pub subject: String,
    pub html: String,
    pub text: Option<String>,
    pub data_query: Option<String>,
}

impl From<TemplateDraftInput> for TemplateSource {
    fn from(d: TemplateDraftInput) -> Self {
        TemplateSource {
            subject: d.subject,
            html: d.html,
            text: d.text,
            data_query: d.data_query.unwrap_or_default(),
        }
    }
}

#[derive(InputObject)]
pub struct PreviewEmailInput {
    pub kind: NotificationKind,
    pub locale: Option<String>,
    /// Render this draft instead of the published version.
    pub draft: Option<TemplateDraftInput>,
    /// Render against this real order (by id or number); without one, a built-in sample order.
    pub order_id: Option<ID>,
    pub order_number: Option<String>,
    pub shipment_id: Option<ID>,
    pub return_id: Option<ID>,
    pub substitution_id: Option<ID>,
}

#[derive(InputObject)]
pub struct SaveEmailTemplateDraftInput {
    pub kind: NotificationKind,
    pub locale: Option<String>,
    pub subject: String,
    pub html: String,
    pub text: Option<String>,
    pub data_query: Option<String>,
}

#[derive(InputObject)]
pub struct PublishEmailTemplateInput {
    pub kind: NotificationKind,
    pub locale: Option<String>,
    pub version: i32,
}

#[derive(InputObject)]
pub struct SendTestEmailInput {
    pub kind: NotificationKind,
    pub locale: Option<String>,
    pub to: String,
    pub order_id: Option<ID>,
    pub order_number: Option<String>,
    pub use_draft: Option<bool>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub struct EmailTemplatePayload {
    pub template: Option<EmailTemplate>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct SendTestEmailPayload {
    pub communication: Option<Communication>,
    pub user_errors: Vec<UserError>,
}

fn outbox<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Outbox> {
    state(ctx)
        .outbox
        .as_deref()
        .ok_or_else(|| gql_error(ServiceError::Internal("no email outbox here".into())))
}

/// A global ID of `node_type`: malformed is BAD_USER_INPUT; another type names nothing (-1).
fn row_id(raw: Option<&ID>, node_type: NodeType) -> async_graphql::Result<Option<i64>> {
    match raw {
        None => Ok(None),
        Some(raw) => {
            let id = GlobalId::decode(raw).map_err(|_| malformed_id())?;
            Ok(Some(id.of(node_type).unwrap_or(-1)))
        }
    }
}

#[derive(Default)]
pub struct TemplatesQuery;

#[Object]
impl TemplatesQuery {
    /// Marketing: every kind and locale, with its published version, draft and history.
    async fn email_templates(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<EmailTemplate>> {
        let store = &state(ctx).store;
        Ok(editor::templates(store, principal(ctx))
            .await
            .gql()?
            .into_iter()
            .map(Into::into)
            .collect())
    }
    /// Marketing: one kind in one locale (the default locale when omitted).
    async fn email_template(
        &self,
        ctx: &Context<'_>,
        kind: NotificationKind,
        locale: Option<String>,
    ) -> async_graphql::Result<Option<EmailTemplate>> {
        let store = &state(ctx).store;
        Ok(
            editor::template(store, principal(ctx), kind.into(), locale.as_deref())
                .await
                .gql()?
                .map(Into::into),
        )
    }
    /// Marketing: a draft or the published version rendered against a real order (personal
    /// data masked) or the built-in sample. Template problems are userErrors with their place.
    async fn preview_email(
        &self,
        ctx: &Context<'_>,
        input: PreviewEmailInput,
    ) -> async_graphql::Result<EmailPreview> {
        let target = Target {
            order_id: row_id(input.order_id.as_ref(), NodeType::Order)?,
            order_number: input.order_number,
            shipment_id: row_id(input.shipment_id.as_ref(), NodeType::Shipment)?,
            return_id: row_id(input.return_id.as_ref(), NodeType::Return)?,
            substitution_id: row_id(input.substitution_id.as_ref(), NodeType::Substitution)?,
        };
        let result = editor::preview(
            outbox(ctx)?,
            principal(ctx),
            input.kind.into(),
            input.locale.as_deref(),
            input.draft.map(Into::into),
            &target,
        )
        .await;
        let (preview, user_errors) = outcome(result)?;
        Ok(match preview {
            Some(p) => EmailPreview {
                email: Some(RenderedEmail {
                    subject: p.rendered.subject,
                    html: p.rendered.html,
                    text: p.rendered.text,
                }),
                context: Some(Json(p.context)),
                user_errors,
            },
            None => EmailPreview {
                email: None,
                context: None,
                user_errors,
            },
        })
    }
}

#[derive(Default)]
pub struct TemplatesMutation;

#[Object]
impl TemplatesMutation {
    /// Marketing: a new version, saved only when it parses, its data query is allowed and
    /// valid, and it renders in strict mode against the sample; otherwise TEMPLATE_INVALID
    /// with where and why.
    async fn save_email_template_draft(
        &self,
        ctx: &Context<'_>,
        input: SaveEmailTemplateDraftInput,
    ) -> async_graphql::Result<EmailTemplatePayload> {
        let source = TemplateSource {
            subject: input.subject,
            html: input.html,
            text: input.text,
            data_query: input.data_query.unwrap_or_default(),
        };
        let result = editor::save_draft(
            outbox(ctx)?,
            principal(ctx),
            input.kind.into(),
            input.locale.as_deref(),
            source,
        )
        .await;
        let (template, user_errors) = outcome(result)?;
        Ok(EmailTemplatePayload {
            template: template.map(Into::into),
            user_errors,
        })
    }

    /// Marketing: make a version the one sent; an earlier version too (the rollback).
    async fn publish_email_template(
        &self,
        ctx: &Context<'_>,
        input: PublishEmailTemplateInput,
    ) -> async_graphql::Result<EmailTemplatePayload> {
        let result = editor::publish(
            &state(ctx).store,
            principal(ctx),
            input.kind.into(),
            input.locale.as_deref(),
            input.version,
        )
        .await;
        let (template, user_errors) = outcome(result)?;
        Ok(EmailTemplatePayload {
            template: template.map(Into::into),
            user_errors,
        })
    }

    /// Marketing: the template (published, or the draft) rendered with masked data and sent to
    /// an address, marked [TEST]; it belongs to no order and no timeline.
    async fn send_test_email(
        &self,
        ctx: &Context<'_>,
        input: SendTestEmailInput,
    ) -> async_graphql::Result<SendTestEmailPayload> {
        let target = Target {
            order_id: row_id(input.order_id.as_ref(), NodeType::Order)?,
            order_number: input.order_number,
            ..Target::default()
        };
        let result = editor::send_test(
            outbox(ctx)?,
            principal(ctx),
            comms::NotificationKind::from(input.kind),
            input.locale.as_deref(),
            &input.to,
            &target,
            input.use_draft.unwrap_or(false),
            input.idempotency_key.as_deref(),
        )
        .await;
        let (communication, user_errors) = outcome(result)?;
        Ok(SendTestEmailPayload {
            communication: communication.map(Communication),
            user_errors,
        })
    }
}
