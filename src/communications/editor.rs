//! Marketing's template lifecycle: versions, drafts checked before they are saved, publishing
//! (any version: that is the rollback), previews and test sends.
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::kinds::{NotificationKind, Subject};
use super::outbox::{CommunicationStatus, Outbox};
use super::render::{Problem, Rendered};
use super::templates::{DEFAULT_LOCALE, TemplateSource};
use crate::auth::{Principal, Role};
use crate::db::entities::{
    communication, email_template, email_template_version, order, return_, shipment, substitution,
};
use crate::error::{Refusal, RefusalCode, ServiceError, ServiceResult, is_unique_violation};
use crate::ids::CustomerId;

/// A kind and locale with its published version, its draft and every version, newest first.
#[derive(Clone, Debug)]
pub struct TemplateState {
    pub kind: NotificationKind,
    pub locale: String,
    pub published: Option<email_template_version::Model>,
    pub draft: Option<email_template_version::Model>,
    pub versions: Vec<email_template_version::Model>,
}

fn require_marketing(principal: &Principal) -> ServiceResult<Role> {
    principal.require(&[Role::Marketing])
}

fn check_locale(raw: Option<&str>) -> ServiceResult<String> {
    let locale = raw
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or(DEFAULT_LOCALE);
    let valid = locale.len() <= 16
        && locale
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(locale.to_owned())
    } else {
        Err(Refusal::invalid(&["locale"], "locale is a language tag such as en or fr-BE").into())
    }
}

async fn state(
    conn: &impl ConnectionTrait,
    kind: NotificationKind,
    locale: &str,
) -> ServiceResult<Option<TemplateState>> {
    let head = email_template::Entity::find()
        .filter(email_template::Column::Kind.eq(kind.as_str()))
        .filter(email_template::Column::Locale.eq(locale))
        .one(conn)
        .await?;
    let Some(head) = head else {
        return Ok(None);
    };
    let versions = email_template_version::Entity::find()
        .filter(email_template_version::Column::Kind.eq(kind.as_str()))
        .filter(email_template_version::Column::Locale.eq(locale))
        .order_by_desc(email_template_version::Column::Version)
        .all(conn)
        .await?;
    let published = head
        .published_version
        .and_then(|v| versions.iter().find(|x| x.version == v).cloned());
    // The draft is the newest version saved after the published one and never published.
    let draft = versions
        .first()
        .filter(|v| {
            v.published_at.is_none() && head.published_version.is_none_or(|p| v.version > p)
        })
        .cloned();
    Ok(Some(TemplateState {
        kind,
        locale: locale.to_owned(),
        published,
        draft,
        versions,
    }))
}

/// `emailTemplates`: every kind and locale.
pub async fn templates(
    store: &crate::db::Store,
    principal: &Principal,
) -> ServiceResult<Vec<TemplateState>> {
    require_marketing(principal)?;
    let heads = email_template::Entity::find()
        .order_by_asc(email_template::Column::Kind)
        .order_by_asc(email_template::Column::Locale)
        .all(&store.db)
        .await?;
    let mut out = Vec::new();
    for head in heads {
        if let Some(kind) = NotificationKind::parse(&head.kind)
            && let Some(s) = state(&store.db, kind, &head.locale).await?
        {
            out.push(s);
        }
    }
    Ok(out)
}

/// `emailTemplate(kind, locale)`.
pub async fn template(
    store: &crate::db::Store,
    principal: &Principal,
    kind: NotificationKind,
    locale: Option<&str>,
) -> ServiceResult<Option<TemplateState>> {
    require_marketing(principal)?;
    let locale = check_locale(locale)?;
    state(&store.db, kind, &locale).await
}

fn invalid(problem: &Problem) -> Refusal {
    let refusal = Refusal::new(
        RefusalCode::TemplateInvalid,
        &[problem.part],
        problem.message.clone(),
    );
    match (problem.line, problem.column) {
        (Some(l), Some(c)) => refusal.at(problem.part, l, c),
        _ => refusal,
    }
}

/// Checks a template the way a send would use it: it parses, its data query is one the template
/// principal may run and the schema accepts, and it renders in strict mode against the sample.
pub async fn validate(
    outbox: &Outbox,
    kind: NotificationKind,
    source: &TemplateSource,
) -> ServiceResult<(Rendered, serde_json::Value)> {
    let compiled = super::render::compile(source);
    if let Err(p) = compiled {
        return Err(invalid(&p).into());
    }
    let sample = outbox.sample().await?;
    let (subject, customer) = sample
        .subject(kind)
        .ok_or_else(|| ServiceError::Internal(format!("no sample for {}", kind.as_str())))?;
    outbox
        .render_source(
            &sample.schema,
            &sample.store,
            kind,
            None,
            source,
            &subject,
            Principal::Customer(customer),
            false,
        )
        .await
        .map_err(|p| invalid(&p).into())
}

/// `saveEmailTemplateDraft`: a new version after every check passes; nothing is saved
/// otherwise. A draft without a data query keeps the current one.
pub async fn save_draft(
    outbox: &Outbox,
    principal: &Principal,
    kind: NotificationKind,
    locale: Option<&str>,
    mut source: TemplateSource,
) -> ServiceResult<TemplateState> {
    require_marketing(principal)?;
    let locale = check_locale(locale)?;
    let store = outbox.store();
    if source.data_query.trim().is_empty() {
        let current = state(&store.db, kind, &locale)
            .await?
            .and_then(|s| s.versions.into_iter().next());
        source.data_query = match current {
            Some(v) => v.data_query,
            None => super::templates::factory(kind).data_query,
        };
    }
    if source.subject.trim().is_empty() {
        return Err(Refusal::new(
            RefusalCode::TemplateInvalid,
            &["subject"],
            "a subject is required",
        )
        .into());
    }
    validate(outbox, kind, &source).await?;
    for _ in 0..3 {
        let txn = store.begin_write().await?;
        let head = email_template::Entity::find()
            .filter(email_template::Column::Kind.eq(kind.as_str()))
            .filter(email_template::Column::Locale.eq(&locale))
            .one(&*txn)
            .await?;
        let now = Utc::now();
        if head.is_none() {
            email_template::ActiveModel {
                kind: Set(kind.as_str().to_owned()),
                locale: Set(locale.clone()),
                published_version: Set(None),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&*txn)
            .await?;
        }
        let latest = email_template_version::Entity::find()
            .filter(email_template_version::Column::Kind.eq(kind.as_str()))
            .filter(email_template_version::Column::Locale.eq(&locale))
            .order_by_desc(email_template_version::Column::Version)
            .one(&*txn)
            .await?
            .map(|v| v.version)
            .unwrap_or(0);
        let inserted = email_template_version::ActiveModel {
            kind: Set(kind.as_str().to_owned()),
            locale: Set(locale.clone()),
            version: Set(latest + 1),
            subject: Set(source.subject.clone()),
            html: Set(source.html.clone()),
            text: Set(source.text.clone().filter(|t| !t.trim().is_empty())),
            data_query: Set(source.data_query.clone()),
            author: Set(principal.actor_id().unwrap_or_else(|| principal.key())),
            created_at: Set(now),
            published_at: Set(None),
            published_by: Set(None),
            ..Default::default()
        }
        .insert(&*txn)
        .await;
        match inserted {
            Ok(_) => {
                txn.commit().await?;
                return state(&store.db, kind, &locale)
                    .await?
                    .ok_or_else(|| ServiceError::Internal("a saved template vanished".into()));
            }
            // Someone saved the same version number first: number it again.
            Err(e) if is_unique_violation(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::Internal(
        "the template kept changing while it was saved".into(),
    ))
}

/// `publishEmailTemplate`: any saved version, an earlier one too (the rollback).
pub async fn publish(
    store: &crate::db::Store,
    principal: &Principal,
    kind: NotificationKind,
    locale: Option<&str>,
    version: i32,
) -> ServiceResult<TemplateState> {
    require_marketing(principal)?;
    let locale = check_locale(locale)?;
    let txn = store.begin_write().await?;
    let found = email_template_version::Entity::find()
        .filter(email_template_version::Column::Kind.eq(kind.as_str()))
        .filter(email_template_version::Column::Locale.eq(&locale))
        .filter(email_template_version::Column::Version.eq(version))
        .one(&*txn)
        .await?
        .ok_or_else(|| {
            ServiceError::from(Refusal::not_found(
                &["version"],
                format!("{} ({locale}) has no version {version}", kind.as_str()),
            ))
        })?;
    let now = Utc::now();
    email_template::Entity::update_many()
        .col_expr(
            email_template::Column::PublishedVersion,
            Expr::value(version),
        )
        .col_expr(email_template::Column::UpdatedAt, Expr::value(now))
        .filter(email_template::Column::Kind.eq(kind.as_str()))
        .filter(email_template::Column::Locale.eq(&locale))
        .exec(&*txn)
        .await?;
    let mut active: email_template_version::ActiveModel = found.into();
    active.published_at = Set(Some(now));
    active.published_by = Set(Some(
        principal.actor_id().unwrap_or_else(|| principal.key()),
    ));
    active.update(&*txn).await?;
    txn.commit().await?;
    state(&store.db, kind, &locale)
        .await?
        .ok_or_else(|| ServiceError::Internal("a published template vanished".into()))
}

/// What a preview or a test send renders against.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub order_id: Option<i64>,
    pub order_number: Option<String>,
    pub shipment_id: Option<i64>,
    pub return_id: Option<i64>,
    pub substitution_id: Option<i64>,
}

impl Target {
    fn is_sample(&self) -> bool {
        self.order_id.is_none()
            && self.order_number.is_none()
            && self.shipment_id.is_none()
            && self.return_id.is_none()
            && self.substitution_id.is_none()
    }
}

/// The subject a preview of a real order is about: the order named (or the one the shipment,
/// return or substitution belongs to) and, where the kind needs them, the rows named or the
/// order's first.
async fn real_subject(
    conn: &impl ConnectionTrait,
    kind: NotificationKind,
    target: &Target,
) -> ServiceResult<(Subject, CustomerId)> {
    let missing = |field: &str| {
        let what = match field {
            "shipmentId" => "no such shipment".to_owned(),
            "returnId" => "no such return".to_owned(),
            "substitutionId" => "no such substitution".to_owned(),
            _ => match &target.order_number {
                Some(number) => format!("no order numbered {:?}", number.trim()),
                None => "no such order".to_owned(),
            },
        };
        ServiceError::from(Refusal::not_found(&[field], &what))
    };
    let shipment_row = match target.shipment_id {
        Some(id) => Some(
            shipment::Entity::find_by_id(id)
                .one(conn)
                .await?
                .ok_or_else(|| missing("shipmentId"))?,
        ),
        None => None,
    };
    let return_row = match target.return_id {
        Some(id) => Some(
            return_::Entity::find_by_id(id)
                .one(conn)
                .await?
                .ok_or_else(|| missing("returnId"))?,
        ),
        None => None,
    };
    let substitution_row = match target.substitution_id {
        Some(id) => Some(
            substitution::Entity::find_by_id(id)
                .one(conn)
                .await?
                .ok_or_else(|| missing("substitutionId"))?,
        ),
        None => None,
    };
    let order_row = match (&target.order_id, &target.order_number) {
        (Some(id), _) => order::Entity::find_by_id(*id).one(conn).await?,
        (None, Some(number)) => {
            order::Entity::find()
                .filter(order::Column::Number.eq(number.trim()))
                .one(conn)
                .await?
        }
        (None, None) => {
            let id = shipment_row
                .as_ref()
                .map(|s| s.order_id)
                .or(return_row.as_ref().map(|r| r.order_id))
                .or(substitution_row.as_ref().map(|s| s.order_id));
            match id {
                Some(id) => order::Entity::find_by_id(id).one(conn).await?,
                None => None,
            }
        }
    };
    let order_row = order_row.ok_or_else(|| {
        missing(if target.order_number.is_some() {
            "orderNumber"
        } else {
            "orderId"
        })
    })?;
    let belongs = shipment_row
        .as_ref()
        .is_none_or(|s| s.order_id == order_row.id)
        && return_row
            .as_ref()
            .is_none_or(|r| r.order_id == order_row.id)
        && substitution_row
            .as_ref()
            .is_none_or(|s| s.order_id == order_row.id);
    if !belongs {
        return Err(
            Refusal::invalid(&["orderId"], "the rows named belong to another order").into(),
        );
    }
    let vars = kind.variables();
    let first_shipment = match shipment_row {
        Some(s) => Some(s.id),
        None => shipment::Entity::find()
            .filter(shipment::Column::OrderId.eq(order_row.id))
            .order_by_asc(shipment::Column::Id)
            .one(conn)
            .await?
            .map(|s| s.id),
    };
    let first_return = match return_row {
        Some(r) => Some(r.id),
        None => return_::Entity::find()
            .filter(return_::Column::OrderId.eq(order_row.id))
            .order_by_asc(return_::Column::Id)
            .one(conn)
            .await?
            .map(|r| r.id),
    };
    let first_substitution = match substitution_row {
        Some(s) => Some(s.id),
        None => substitution::Entity::find()
            .filter(substitution::Column::OrderId.eq(order_row.id))
            .order_by_asc(substitution::Column::Id)
            .one(conn)
            .await?
            .map(|s| s.id),
    };
    let need = |name: &str, value: Option<i64>, field: &str| -> ServiceResult<Option<i64>> {
        if !vars.contains(&name) {
            return Ok(None);
        }
        value.map(Some).ok_or_else(|| {
            Refusal::invalid(
                &[field],
                format!(
                    "this order has no {} to preview {} with",
                    &field[..field.len() - 2],
                    kind.as_str()
                ),
            )
            .into()
        })
    };
    let subject = Subject {
        order_id: order_row.id,
        shipment_id: need("shipmentId", first_shipment, "shipmentId")?,
        return_id: need("returnId", first_return, "returnId")?,
        substitution_id: need("substitutionId", first_substitution, "substitutionId")?,
    };
    Ok((subject, CustomerId(order_row.customer_id)))
}

/// The template a preview or test send uses: the draft given, or the published version.
async fn source_for(
    store: &crate::db::Store,
    kind: NotificationKind,
    locale: &str,
    draft: Option<TemplateSource>,
) -> ServiceResult<(TemplateSource, i32)> {
    if let Some(mut d) = draft {
        if d.data_query.trim().is_empty() {
            let current = state(&store.db, kind, locale)
                .await?
                .and_then(|s| s.versions.into_iter().next());
            d.data_query = current
                .map(|v| v.data_query)
                .unwrap_or_else(|| super::templates::factory(kind).data_query);
        }
        return Ok((d, 0));
    }
    let published = super::templates::published(&store.db, kind, locale)
        .await?
        .ok_or_else(|| {
            ServiceError::from(Refusal::not_found(
                &["kind"],
                "no published version of this template",
            ))
        })?;
    Ok(((&published).into(), published.version))
}

/// A rendered preview and the (masked) data the template saw.
pub struct Preview {
    pub rendered: Rendered,
    pub context: serde_json::Value,
    pub version: i32,
}

/// `previewEmail`: a draft or the published version, against a real order (its personal data
/// masked) or the built-in sample.
pub async fn preview(
    outbox: &Outbox,
    principal: &Principal,
    kind: NotificationKind,
    locale: Option<&str>,
    draft: Option<TemplateSource>,
    target: &Target,
) -> ServiceResult<Preview> {
    require_marketing(principal)?;
    let locale = check_locale(locale)?;
    let (source, version) = source_for(outbox.store(), kind, &locale, draft).await?;
    if target.is_sample() {
        let (rendered, context) = validate(outbox, kind, &source).await?;
        return Ok(Preview {
            rendered,
            context,
            version,
        });
    }
    super::render::compile(&source).map_err(|p| invalid(&p))?;
    let (subject, customer) = real_subject(&outbox.store().db, kind, target).await?;
    let schema = outbox
        .schema()
        .ok_or_else(|| ServiceError::Internal("the schema is not ready".into()))?;
    let (rendered, context) = outbox
        .render_source(
            schema,
            outbox.store(),
            kind,
            None,
            &source,
            &subject,
            Principal::Customer(customer),
            true,
        )
        .await
        .map_err(|p| invalid(&p))?;
    Ok(Preview {
        rendered,
        context,
        version,
    })
}

/// `sendTestEmail`: the template rendered like a preview (masked), sent to the address given
/// with "[TEST]" before its subject; it belongs to no order and no timeline.
#[allow(clippy::too_many_arguments)]
pub async fn send_test(
    outbox: &Outbox,
    principal: &Principal,
    kind: NotificationKind,
    locale: Option<&str>,
    to: &str,
    target: &Target,
    use_draft: bool,
    idempotency_key: Option<&str>,
) -> ServiceResult<communication::Model> {
    require_marketing(principal)?;
    let request = (
        kind.as_str(),
        locale,
        to,
        target.order_id,
        &target.order_number,
        use_draft,
    );
    if let Some(key) = idempotency_key {
        let txn = outbox.store().begin_write().await?;
        let claim = crate::idempotency::claim::<i64>(
            &*txn,
            principal,
            "sendTestEmail",
            Some(key),
            &request,
        )
        .await?;
        if let crate::idempotency::Claim::Replay(id) = claim {
            return communication::Entity::find_by_id(id)
                .one(&*txn)
                .await?
                .ok_or_else(|| ServiceError::Internal("an idempotent test send vanished".into()));
        }
    }
    let to = to.trim();
    if to.parse::<lettre::Address>().is_err() {
        return Err(Refusal::invalid(&["to"], "to is not an email address").into());
    }
    let locale = check_locale(locale)?;
    let draft = if use_draft {
        let current = state(&outbox.store().db, kind, &locale)
            .await?
            .and_then(|s| s.draft)
            .ok_or_else(|| {
                ServiceError::from(Refusal::not_found(
                    &["useDraft"],
                    "this template has no draft",
                ))
            })?;
        Some(TemplateSource::from(&current))
    } else {
        None
    };
    let preview = preview(outbox, principal, kind, Some(&locale), draft, target).await?;
    let now = Utc::now();
    let txn = outbox.store().begin_write().await?;
    let row = communication::ActiveModel {
        event_seq: Set(None),
        kind: Set(kind.as_str().to_owned()),
        recipient: Set(to.to_owned()),
        customer_id: Set(None),
        order_id: Set(None),
        shipment_id: Set(None),
        return_id: Set(None),
        substitution_id: Set(None),
        locale: Set(locale),
        template_version: Set(preview.version),
        subject: Set(super::render::header_safe(&format!(
            "[TEST] {}",
            preview.rendered.subject
        ))),
        html: Set(preview.rendered.html),
        text: Set(preview.rendered.text),
        status: Set(CommunicationStatus::Queued.as_str().to_owned()),
        attempts: Set(0),
        last_error: Set(None),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        message_id: Set(super::outbox::message_id(outbox.public_url())),
        open_token: Set(super::outbox::open_token()),
        is_test: Set(true),
        requested_by: Set(principal.actor_id()),
        created_at: Set(now),
        sent_at: Set(None),
        opened_at: Set(None),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    if let crate::idempotency::Claim::First(key) = crate::idempotency::claim::<i64>(
        &*txn,
        principal,
        "sendTestEmail",
        idempotency_key,
        &request,
    )
    .await?
    {
        crate::idempotency::complete(&*txn, key, &row.id).await?;
    }
    txn.commit().await?;
    Ok(row)
}
