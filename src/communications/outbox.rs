//! The communications outbox: the notifier turns events into rendered messages (one per event,
//! kind and recipient), and the sender claims due messages, sends them and records the outcome,
//! retrying transient failures with backoff.
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};
use tokio_util::sync::CancellationToken;

use super::data;
use super::kinds::{NotificationKind, Subject, notification_for};
use super::mailer::{Mailer, Outgoing};
use super::render::{self, Cache, Rendered};
use super::sample::Sample;
use super::templates::{self, TemplateSource};
use crate::auth::Principal;
use crate::clock;
use crate::db::Store;
use crate::db::entities::{communication, customer, dispatcher_cursor, event, order};
use crate::error::{ServiceError, ServiceResult, is_unique_violation};
use crate::events::{self, EventKind, NewEvent};
use crate::graphql::TouchpointSchema;
use crate::ids::CustomerId;
use crate::lifecycle::Lifecycle;

text_enum!(
    CommunicationStatus {
        Queued = "QUEUED",
        Sent = "SENT",
        Retrying = "RETRYING",
        Failed = "FAILED",
        Suppressed = "SUPPRESSED",
    }
);

const CURSOR: &str = "notifications";
const BATCH: u64 = 200;
/// Messages a sender claims at a time.
const CLAIM_BATCH: u64 = 20;
/// How far behind the cursor the notifier looks again, for events that committed late.
const LOOKBACK_SEQ: i64 = 1_000;
const LOOKBACK: Duration = Duration::from_secs(30);
/// Events older than this when first seen are history, not news: nothing is sent for them.
const MAX_AGE: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// How delivery behaves (configuration).
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    pub poll: Duration,
    pub retry_base: Duration,
    pub max_attempts: i32,
    /// How long a sender holds a claimed message before another may take it.
    pub claim: Duration,
    /// The base of links in messages (the open-tracking pixel).
    pub public_url: String,
}

/// How many messages the notifier prepares at once.
const PREPARING: usize = 4;

/// A message ready to be recorded: rendered, or with the reason it will not be sent.
struct Prepared {
    event_seq: i64,
    kind: NotificationKind,
    recipient: String,
    customer_id: i64,
    order_id: i64,
    subject: Subject,
    locale: String,
    version: i32,
    rendered: Rendered,
    status: CommunicationStatus,
    last_error: Option<String>,
}

/// Everything the two workers share.
pub struct Outbox {
    store: Store,
    schema: OnceLock<TouchpointSchema>,
    cache: Cache,
    mailer: Mailer,
    config: DeliveryConfig,
    returns: crate::returns::ReturnPolicy,
    sample: tokio::sync::OnceCell<Sample>,
    /// Events the notifier handled lately, by sequence.
    seen: std::sync::Mutex<std::collections::BTreeMap<i64, std::time::Instant>>,
}

impl Outbox {
    pub fn new(
        store: Store,
        mailer: Mailer,
        config: DeliveryConfig,
        returns: crate::returns::ReturnPolicy,
    ) -> Arc<Outbox> {
        Arc::new(Outbox {
            store,
            schema: OnceLock::new(),
            cache: Cache::default(),
            mailer,
            config,
            returns,
            sample: tokio::sync::OnceCell::new(),
            seen: Default::default(),
        })
    }

    /// The schema data queries run against; set once it is built.
    pub fn set_schema(&self, schema: TouchpointSchema) {
        let _ = self.schema.set(schema);
    }

    /// Starts the notifier and the sender; both return once `lifecycle` is stopping.
    pub fn start(self: &Arc<Self>, lifecycle: &Lifecycle) {
        let notifier = self.clone();
        let stopping = lifecycle.stopping.clone();
        lifecycle.spawn(async move { notifier.notify_loop(stopping).await });
        let sender = self.clone();
        let stopping = lifecycle.stopping.clone();
        lifecycle.spawn(async move { sender.send_loop(stopping).await });
    }

    /// Turns events into messages until `stopping`, then once more for the last commits.
    async fn notify_loop(self: Arc<Self>, stopping: CancellationToken) {
        let mut commits = self.store.commits();
        loop {
            let last = stopping.is_cancelled();
            loop {
                match self.notify_batch().await {
                    Ok(0) => break,
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::error!(error = %e, "turning events into messages failed; retrying");
                        break;
                    }
                }
            }
            if last {
                return;
            }
            tokio::select! {
                _ = commits.changed() => {}
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = stopping.cancelled() => {}
            }
        }
    }

    fn seen(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<i64, std::time::Instant>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether this instance handled the event lately: events looked at again behind the
    /// cursor are then skipped without a query.
    fn seen_lately(&self, seq: i64) -> bool {
        self.seen().contains_key(&seq)
    }

    fn mark_seen(&self, seq: i64) {
        let now = std::time::Instant::now();
        let mut seen = self.seen();
        // Sequences grow with time, so the oldest entries are at the front.
        while let Some((&first, &at)) = seen.first_key_value() {
            if now.duration_since(at) < LOOKBACK * 2 {
                break;
            }
            seen.remove(&first);
        }
        seen.insert(seq, now);
    }

    async fn cursor(&self) -> ServiceResult<i64> {
        Ok(dispatcher_cursor::Entity::find_by_id(CURSOR.to_owned())
            .one(&self.store.db)
            .await?
            .map(|c| c.position)
            .unwrap_or(0))
    }

    /// Moves the shared cursor forward (never back: another instance may be ahead).
    async fn save_cursor(&self, position: i64) -> ServiceResult<()> {
        let moved = dispatcher_cursor::Entity::update_many()
            .col_expr(dispatcher_cursor::Column::Position, Expr::value(position))
            .col_expr(
                dispatcher_cursor::Column::UpdatedAt,
                Expr::value(clock::now()),
            )
            .filter(dispatcher_cursor::Column::Name.eq(CURSOR))
            .filter(dispatcher_cursor::Column::Position.lt(position))
            .exec(&self.store.db)
            .await?;
        if moved.rows_affected == 0 {
            let row = dispatcher_cursor::ActiveModel {
                name: Set(CURSOR.to_owned()),
                position: Set(position),
                updated_at: Set(clock::now()),
            };
            match row.insert(&self.store.db).await {
                Ok(_) => {}
                // It exists, at or beyond this position.
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Reads the events after the cursor (and recent ones just behind it, which may have
    /// committed late) and records the messages they call for; returns how many new events
    /// it read. The messages are prepared (read and rendered) a few at a time in their own
    /// tasks, so rendering uses every core, and recorded one by one in the events' order.
    async fn notify_batch(self: &Arc<Self>) -> ServiceResult<usize> {
        let cursor = self.cursor().await?;
        let mut condition = Condition::any().add(event::Column::Seq.gt(cursor));
        // PostgreSQL may commit a lower sequence after a higher one: look a little behind the
        // cursor too. SQLite commits one writer at a time, so nothing lands behind it there.
        if self.store.backend() == DbBackend::Postgres {
            let recent = clock::now() - chrono::TimeDelta::from_std(LOOKBACK).unwrap_or_default();
            condition = condition.add(
                Condition::all()
                    .add(event::Column::Seq.gt(cursor - LOOKBACK_SEQ))
                    .add(event::Column::RecordedAt.gt(recent)),
            );
        }
        let rows = event::Entity::find()
            .filter(condition)
            .order_by_asc(event::Column::Seq)
            .limit(BATCH)
            .all(&self.store.db)
            .await?;
        let fresh = rows.iter().filter(|e| e.seq > cursor).count();
        let last = rows.iter().map(|e| e.seq).max().filter(|s| *s > cursor);
        let mut todo = Vec::new();
        for row in rows {
            if row.seq <= cursor && self.seen_lately(row.seq) {
                continue;
            }
            match notification_for(&row) {
                Some((kind, subject)) => todo.push((row, kind, subject)),
                None => self.mark_seen(row.seq),
            }
        }
        let mut prepared =
            futures_util::stream::iter(todo.into_iter().map(|(row, kind, subject)| {
                let outbox = self.clone();
                let seq = row.seq;
                let task = clock::spawn(crate::db::in_background(async move {
                    outbox.prepare(&row, kind, subject).await
                }));
                async move { (seq, task.await) }
            }))
            .buffered(PREPARING);
        while let Some((seq, message)) = prepared.next().await {
            let message = message.map_err(|e| {
                ServiceError::Internal(format!("preparing a message stopped: {e}"))
            })??;
            if let Some(message) = message {
                self.record(message).await?;
            }
            self.mark_seen(seq);
        }
        if let Some(last) = last {
            self.save_cursor(last).await?;
        }
        Ok(fresh)
    }

    /// The message an event calls for, rendered, unless it exists already or the event is old.
    async fn prepare(
        &self,
        event: &event::Model,
        kind: NotificationKind,
        subject: Subject,
    ) -> ServiceResult<Option<Prepared>> {
        if clock::now() - event.recorded_at > MAX_AGE {
            return Ok(None);
        }
        let Some(order) = order::Entity::find_by_id(subject.order_id)
            .one(&self.store.db)
            .await?
        else {
            return Ok(None);
        };
        let Some(customer) = customer::Entity::find_by_id(order.customer_id)
            .one(&self.store.db)
            .await?
        else {
            return Ok(None);
        };
        let recipient = customer
            .email
            .as_deref()
            .map(render::one_line)
            .unwrap_or_default();
        let exists = communication::Entity::find()
            .filter(communication::Column::EventSeq.eq(event.seq))
            .filter(communication::Column::Kind.eq(kind.as_str()))
            .filter(communication::Column::Recipient.eq(&recipient))
            .one(&self.store.db)
            .await?
            .is_some();
        if exists {
            return Ok(None);
        }
        let suppressed = if recipient.is_empty() {
            Some("the customer has no email address")
        } else if order.seller_of_record == crate::orders::SellerOfRecord::ThirdParty.as_str() {
            Some("the third-party seller of record owns the customer contact")
        } else if kind.optional() && !customer.order_updates_by_email {
            Some("the customer turned optional order updates by email off")
        } else {
            None
        };
        let template = templates::published(&self.store.db, kind, &customer.locale).await?;
        let (locale, version) = template
            .as_ref()
            .map(|t| (t.locale.clone(), t.version))
            .unwrap_or_else(|| (customer.locale.clone(), 0));
        let (rendered, failure) = match (&suppressed, &template) {
            (Some(_), _) => (empty(), None),
            (None, None) => (
                empty(),
                Some(format!("no published template for {}", kind.as_str())),
            ),
            (None, Some(t)) => {
                let reader = Principal::Customer(CustomerId(customer.id));
                match self.render(kind, t, &subject, reader).await {
                    Ok(r) => (r, None),
                    Err(e) => (empty(), Some(format!("template: {e}"))),
                }
            }
        };
        let status = match (&suppressed, &failure) {
            (Some(_), _) => CommunicationStatus::Suppressed,
            (None, Some(_)) => CommunicationStatus::Failed,
            (None, None) => CommunicationStatus::Queued,
        };
        Ok(Some(Prepared {
            event_seq: event.seq,
            kind,
            recipient,
            customer_id: customer.id,
            order_id: order.id,
            subject,
            locale,
            version,
            rendered,
            status,
            last_error: suppressed.map(str::to_owned).or(failure),
        }))
    }

    /// Records a prepared message (and EMAIL_FAILED when it cannot be sent at all).
    async fn record(&self, message: Prepared) -> ServiceResult<()> {
        let now = clock::now();
        let txn = self.store.begin_write().await?;
        let row = communication::ActiveModel {
            event_seq: Set(Some(message.event_seq)),
            kind: Set(message.kind.as_str().to_owned()),
            recipient: Set(message.recipient),
            customer_id: Set(Some(message.customer_id)),
            order_id: Set(Some(message.order_id)),
            shipment_id: Set(message.subject.shipment_id),
            return_id: Set(message.subject.return_id),
            substitution_id: Set(message.subject.substitution_id),
            locale: Set(message.locale),
            template_version: Set(message.version),
            subject: Set(message.rendered.subject),
            html: Set(message.rendered.html),
            text: Set(message.rendered.text),
            status: Set(message.status.as_str().to_owned()),
            attempts: Set(0),
            last_error: Set(message.last_error.clone()),
            next_attempt_at: Set(now),
            claimed_until: Set(None),
            message_id: Set(message_id(&self.config.public_url)),
            open_token: Set(open_token()),
            is_test: Set(false),
            requested_by: Set(None),
            created_at: Set(now),
            sent_at: Set(None),
            opened_at: Set(None),
            ..Default::default()
        }
        .insert(&*txn)
        .await;
        let row = match row {
            Ok(row) => row,
            // Another instance recorded it first.
            Err(e) if is_unique_violation(&e) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if message.status == CommunicationStatus::Failed {
            outcome_event(
                &*txn,
                &row,
                EventKind::EmailFailed,
                message.last_error.as_deref(),
            )
            .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Renders a template version for a subject: its data query as `reader`, plus the brand.
    pub async fn render(
        &self,
        kind: NotificationKind,
        template: &crate::db::entities::email_template_version::Model,
        subject: &Subject,
        reader: Principal,
    ) -> Result<Rendered, render::Problem> {
        let schema = self.schema.get().ok_or_else(|| not_ready("the schema"))?;
        let key = (
            template.kind.clone(),
            template.locale.clone(),
            template.version,
        );
        let source: TemplateSource = template.into();
        let (rendered, _) = self
            .render_source(
                schema,
                &self.store,
                kind,
                Some(key),
                &source,
                subject,
                reader,
                false,
            )
            .await?;
        Ok(rendered)
    }

    /// Renders any template source against a schema and store (the live ones, or the sample's):
    /// the data query runs as `reader`, personal data is masked when asked, the brand is added.
    /// Returns the message and the context it saw.
    #[allow(clippy::too_many_arguments)]
    pub async fn render_source(
        &self,
        schema: &TouchpointSchema,
        store: &Store,
        kind: NotificationKind,
        cache_key: Option<(String, String, i32)>,
        source: &TemplateSource,
        subject: &Subject,
        reader: Principal,
        mask: bool,
    ) -> Result<(Rendered, serde_json::Value), render::Problem> {
        let mut context =
            data::run(schema, store, &source.data_query, kind, subject, reader).await?;
        if mask {
            super::masking::mask_result(&source.data_query, &mut context);
        }
        let brand = super::brand::get(&self.store)
            .await
            .map_err(|e| not_ready(&e.to_string()))?;
        if let Some(map) = context.as_object_mut() {
            map.insert("brand".into(), super::brand::context(&brand));
        }
        render::guard_urls(&mut context);
        let compiled = match cache_key {
            Some(key) => self.cache.get_or_compile(key, || source.clone())?,
            None => Arc::new(render::compile(source)?),
        };
        let rendered = render::render(&compiled, &context)?;
        Ok((rendered, context))
    }

    /// The built-in sample, built on first use.
    pub async fn sample(&self) -> ServiceResult<&Sample> {
        self.sample
            .get_or_try_init(|| super::sample::build(&self.returns, &self.config.public_url))
            .await
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn schema(&self) -> Option<&TouchpointSchema> {
        self.schema.get()
    }

    /// Sends due messages until `stopping`; a batch under way is finished, the rest stays queued.
    async fn send_loop(self: Arc<Self>, stopping: CancellationToken) {
        let mut commits = self.store.commits();
        while !stopping.is_cancelled() {
            loop {
                match self.send_batch().await {
                    Ok(0) => break,
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::error!(error = %e, "sending messages failed; retrying");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = commits.changed() => {}
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = stopping.cancelled() => {}
            }
        }
    }

    /// What the two loops do on one wake-up, done once: turns every new event into its messages,
    /// then sends everything due. For tools that drive the outbox themselves, such as the demo
    /// history, which runs it at simulated times. Returns (events read, messages claimed).
    pub async fn run_once(self: &Arc<Self>) -> ServiceResult<(usize, usize)> {
        let mut read = 0;
        loop {
            match self.notify_batch().await? {
                0 => break,
                n => read += n,
            }
        }
        let mut claimed = 0;
        loop {
            match self.send_batch().await? {
                0 => break,
                n => claimed += n,
            }
        }
        Ok((read, claimed))
    }

    /// Claims the messages that are due and sends them; returns how many it claimed. One at a
    /// time: each outcome is recorded before the next message goes to the mailer, so a crash
    /// can repeat at most the one message whose acceptance was not recorded yet.
    async fn send_batch(self: &Arc<Self>) -> ServiceResult<usize> {
        let claimed = self.claim_due().await?;
        let count = claimed.len();
        for message in claimed {
            let result = self.send(&message).await;
            self.record_outcome(message, result?).await?;
        }
        Ok(count)
    }

    /// Takes due messages for this sender, oldest first, in one statement. PostgreSQL: `FOR UPDATE
    /// SKIP LOCKED`, so instances never wait on each other; SQLite: one write transaction.
    async fn claim_due(&self) -> ServiceResult<Vec<communication::Model>> {
        let now = clock::now();
        let until = now + chrono::TimeDelta::from_std(self.config.claim).unwrap_or_default();
        let postgres = self.store.backend() == DbBackend::Postgres;
        // `$1` and `$2` are numbered parameters on both databases.
        let lock = if postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE communications SET claimed_until = $1 WHERE id IN ( \
             SELECT id FROM communications WHERE status IN ('{queued}', '{retrying}') \
             AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2) \
             ORDER BY id LIMIT {CLAIM_BATCH}{lock}) RETURNING *",
            queued = CommunicationStatus::Queued.as_str(),
            retrying = CommunicationStatus::Retrying.as_str(),
        );
        let claim = communication::Entity::find().from_raw_sql(Statement::from_sql_and_values(
            self.store.backend(),
            sql,
            [until.into(), now.into()],
        ));
        let mut rows = if postgres {
            claim.all(&self.store.db).await?
        } else {
            let txn = self.store.begin_write().await?;
            let rows = claim.all(&*txn).await?;
            // Nothing claimed, nothing changed: no commit, which would wake this loop again.
            if !rows.is_empty() {
                txn.commit().await?;
            }
            rows
        };
        // RETURNING gives rows in no set order; messages go out oldest first.
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    /// Hands one claimed message to the mailer.
    async fn send(
        &self,
        message: &communication::Model,
    ) -> ServiceResult<Result<(), super::mailer::SendFailure>> {
        let brand = super::brand::get(&self.store).await?;
        let from = lettre::message::Mailbox::new(
            Some(render::header_safe(&brand.name)),
            brand
                .support_email
                .parse()
                .map_err(|e| ServiceError::Internal(format!("brand support email: {e}")))?,
        );
        let html = with_pixel(&message.html, &self.pixel_url(&message.open_token));
        Ok(self
            .mailer
            .send(Outgoing {
                message_id: &message.message_id,
                from,
                to: &message.recipient,
                subject: &message.subject,
                html: &html,
                text: &message.text,
            })
            .await)
    }

    /// Records what happened to a message handed to the mailer.
    async fn record_outcome(
        &self,
        message: communication::Model,
        result: Result<(), super::mailer::SendFailure>,
    ) -> ServiceResult<()> {
        let attempts = message.attempts + 1;
        let now = clock::now();
        let txn = self.store.begin_write().await?;
        let mut active: communication::ActiveModel = message.clone().into();
        active.attempts = Set(attempts);
        active.claimed_until = Set(None);
        let outcome = match result {
            Ok(()) => {
                active.status = Set(CommunicationStatus::Sent.as_str().to_owned());
                active.sent_at = Set(Some(now));
                active.last_error = Set(None);
                Some((EventKind::EmailSent, None))
            }
            Err(failure) if failure.transient && attempts < self.config.max_attempts => {
                tracing::warn!(communication = message.id, attempts, error = %failure.message, "sending failed; will retry");
                active.status = Set(CommunicationStatus::Retrying.as_str().to_owned());
                active.next_attempt_at = Set(now + backoff(self.config.retry_base, attempts));
                active.last_error = Set(Some(failure.message));
                None
            }
            Err(failure) => {
                tracing::warn!(communication = message.id, attempts, error = %failure.message, "sending failed for good");
                active.status = Set(CommunicationStatus::Failed.as_str().to_owned());
                active.last_error = Set(Some(failure.message.clone()));
                Some((EventKind::EmailFailed, Some(failure.message)))
            }
        };
        let row = active.update(&*txn).await?;
        if let Some((kind, detail)) = outcome {
            outcome_event(&*txn, &row, kind, detail.as_deref()).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    pub(super) fn public_url(&self) -> &str {
        &self.config.public_url
    }

    fn pixel_url(&self, token: &str) -> String {
        format!("{}/t/o/{token}.gif", self.config.public_url)
    }
}

fn not_ready(what: &str) -> render::Problem {
    render::Problem {
        part: "dataQuery",
        line: None,
        column: None,
        message: format!("{what} is not available"),
    }
}

fn empty() -> Rendered {
    Rendered {
        subject: String::new(),
        html: String::new(),
        text: String::new(),
    }
}

/// The opaque id in a message's open-tracking pixel.
pub(super) fn open_token() -> String {
    crate::ids::random_token(24)
}

/// A Message-ID that stays the same through every attempt of a message.
pub(super) fn message_id(public_url: &str) -> String {
    let host = public_url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .filter(|h| !h.is_empty())
        .unwrap_or("touchpoint.local");
    format!("<{}@{host}>", crate::ids::random_token(16))
}

/// Exponential backoff with ±20 % jitter: base, 2×base, 4×base, … up to an hour.
fn backoff(base: Duration, attempts: i32) -> chrono::TimeDelta {
    let factor = 2f64.powi((attempts - 1).clamp(0, 20));
    let jitter = 0.8 + rand::random::<f64>() * 0.4;
    let seconds = (base.as_secs_f64() * factor * jitter).min(3_600.0);
    chrono::TimeDelta::milliseconds((seconds * 1000.0) as i64)
}

/// The HTML as it goes out: with the open-tracking pixel before `</body>`.
fn with_pixel(html: &str, url: &str) -> String {
    let pixel = format!(
        r#"<img src="{url}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">"#
    );
    match html.rfind("</body>") {
        Some(at) => format!("{}{pixel}{}", &html[..at], &html[at..]),
        None => format!("{html}{pixel}"),
    }
}

/// EMAIL_SENT, EMAIL_FAILED or EMAIL_OPENED on the customer's timeline.
pub async fn outcome_event(
    conn: &impl ConnectionTrait,
    row: &communication::Model,
    kind: EventKind,
    detail: Option<&str>,
) -> ServiceResult<()> {
    if row.is_test {
        return Ok(());
    }
    let system = Principal::System;
    let mut event = NewEvent::new(kind, &system);
    event.customer_id = row.customer_id;
    event.order_id = row.order_id;
    event.shipment_id = row.shipment_id;
    event.return_id = row.return_id;
    event.communication_id = Some(row.id);
    event.payload = serde_json::json!({
        "kind": row.kind,
        "subject": row.subject,
        "attempts": row.attempts,
        "error": detail,
    });
    events::append(conn, event).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_jitter_and_is_capped() {
        let base = Duration::from_secs(2);
        let first = backoff(base, 1).num_milliseconds();
        assert!((1600..=2400).contains(&first), "{first}");
        let third = backoff(base, 3).num_milliseconds();
        assert!((6400..=9600).contains(&third), "{third}");
        assert!(backoff(base, 40).num_seconds() <= 3600);
    }

    #[test]
    fn the_pixel_goes_before_the_end_of_the_body() {
        let html = with_pixel(
            "<html><body><p>Hi</p></body></html>",
            "http://x/t/o/abc.gif",
        );
        assert!(html.ends_with(r#"border:0"></body></html>"#));
    }

    #[test]
    fn message_ids_are_unique_and_name_the_host() {
        let a = message_id("https://shop.example:8443/base");
        assert!(a.ends_with("@shop.example>"));
        assert_ne!(a, message_id("https://shop.example"));
    }
}
