//! Batched relation reads for one request.
//!
//! Resolvers ask for rows by key; the keys of one relation gather and load in one statement. A
//! *driven* batcher starts its batches when the request's execution has nothing left to do but
//! wait for them, so every key of a level is in whatever the load on the machine: a request costs
//! the same statements every time. A *timed* batcher, for work this crate does not execute itself
//! (a subscription's events, run by the WebSocket integration), starts a batch a millisecond
//! after its first key.
//!
//! A batcher for a query also keeps the rows it read, so a relation asked for again at a deeper
//! level (a shipment line's order line, read with its order's lines) costs no statement.

use std::any::{Any, TypeId};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use async_graphql::dataloader::Loader;
use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use super::loaders::{LoadError, Loaders};
use crate::db::Store;
use crate::error::ServiceError;

/// How long a timed batcher waits for more keys after the first.
const TIMED_DELAY: Duration = Duration::from_millis(1);

type Rows<K> = HashMap<K, <Loaders as Loader<K>>::Value>;

/// Rows a query's batcher has read, by key type: a key found here costs no statement. Loaders see
/// it too, so one that reads a relation's rows along with its own keeps them here.
#[derive(Default)]
pub struct RowCache(Mutex<HashMap<TypeId, Box<dyn Any + Send>>>);

impl RowCache {
    /// Keeps `rows`, replacing what was kept under the same keys.
    pub fn keep<K>(&self, rows: impl IntoIterator<Item = (K, <Loaders as Loader<K>>::Value)>)
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        Loaders: Loader<K>,
    {
        let mut cache = lock(&self.0);
        cache
            .entry(TypeId::of::<K>())
            .or_insert_with(|| Box::new(Rows::<K>::new()))
            .downcast_mut::<Rows<K>>()
            .expect("rows are kept under their key's type")
            .extend(rows);
    }

    /// Moves the kept rows of `keys` into `found`, leaving in `keys` those not kept.
    fn take_known<K>(&self, keys: &mut Vec<K>, found: &mut Rows<K>)
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        Loaders: Loader<K>,
    {
        let cache = lock(&self.0);
        let Some(rows) = cache.get(&TypeId::of::<K>()) else {
            return;
        };
        let rows = rows
            .downcast_ref::<Rows<K>>()
            .expect("rows are kept under their key's type");
        keys.retain(|k| match rows.get(k) {
            Some(row) => {
                found.insert(k.clone(), row.clone());
                false
            }
            None => true,
        });
    }
}
type Reply<K> = oneshot::Sender<Result<Rows<K>, LoadError>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The keys of one relation waiting for their batch, and who waits for which.
struct Pending<K: Send + Sync + Hash + Eq + Clone + 'static>
where
    Loaders: Loader<K>,
{
    keys: HashSet<K>,
    waiters: Vec<(Vec<K>, Reply<K>)>,
}

trait Batch: Send {
    fn as_any(&mut self) -> &mut dyn Any;
    fn run(self: Box<Self>, shared: Arc<Shared>) -> BoxFuture<'static, ()>;
}

impl<K> Batch for Pending<K>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    Loaders: Loader<K, Error = LoadError>,
{
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }

    fn run(self: Box<Self>, shared: Arc<Shared>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let Pending { keys, waiters } = *self;
            let keys: Vec<K> = keys.into_iter().collect();
            let answer = shared.loaders.load(&keys).await;
            if let (Some(cache), Ok(rows)) = (&shared.loaders.kept, &answer) {
                cache.keep(rows.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            for (wanted, reply) in waiters {
                let part = match &answer {
                    Ok(rows) => Ok(wanted
                        .into_iter()
                        .filter_map(|k| rows.get(&k).cloned().map(|v| (k, v)))
                        .collect()),
                    Err(e) => Err(e.clone()),
                };
                // A waiter that went away (its request was abandoned) needs no answer.
                let _ = reply.send(part);
            }
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// When the driving request waits (see [`Batcher::drive`]).
    Driven,
    /// A moment after the first key.
    Timed,
}

struct Shared {
    loaders: Loaders,
    pending: Mutex<HashMap<TypeId, Box<dyn Batch>>>,
    start: Start,
    /// Batches of background work (an email's data) count as background statements.
    background: bool,
}

impl Shared {
    /// Starts every waiting batch.
    fn flush(self: &Arc<Self>) {
        let batches: Vec<Box<dyn Batch>> = {
            let mut pending = lock(&self.pending);
            if pending.is_empty() {
                return;
            }
            pending.drain().map(|(_, b)| b).collect()
        };
        for batch in batches {
            self.spawn(batch.run(self.clone()));
        }
    }

    fn spawn(&self, work: BoxFuture<'static, ()>) {
        if self.background {
            tokio::spawn(crate::db::in_background(work));
        } else {
            tokio::spawn(work);
        }
    }
}

/// One request's batched reads; clones share the batches.
#[derive(Clone)]
pub struct Batcher(Arc<Shared>);

impl Batcher {
    fn new(store: &Store, start: Start, background: bool, keep_rows: bool) -> Self {
        Self(Arc::new(Shared {
            loaders: Loaders {
                store: store.clone(),
                kept: keep_rows.then(|| Arc::new(RowCache::default())),
            },
            pending: Mutex::new(HashMap::new()),
            start,
            background,
        }))
    }

    /// A batcher whose batches start when the future it drives waits; use it only inside
    /// [`Batcher::drive`]. With `keep_rows` a row read once is not read again: for a query only,
    /// whose reads all belong to one moment (a mutation's later fields must see its writes).
    pub fn driven(store: &Store, keep_rows: bool) -> Self {
        Self::new(store, Start::Driven, false, keep_rows)
    }

    /// A driven batcher for background work (an email's data query), keeping its rows.
    pub fn driven_in_background(store: &Store) -> Self {
        Self::new(store, Start::Driven, true, true)
    }

    /// A batcher whose batches start a moment after their first key, keeping nothing: it serves
    /// a WebSocket connection, whose events each need fresh rows.
    pub fn timed(store: &Store) -> Self {
        Self::new(store, Start::Timed, false, false)
    }

    pub async fn load_one<K>(
        &self,
        key: K,
    ) -> Result<Option<<Loaders as Loader<K>>::Value>, LoadError>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        Loaders: Loader<K, Error = LoadError>,
    {
        let mut rows = self.load_many([key.clone()]).await?;
        Ok(rows.remove(&key))
    }

    pub async fn load_many<K, I>(&self, keys: I) -> Result<Rows<K>, LoadError>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        I: IntoIterator<Item = K>,
        Loaders: Loader<K, Error = LoadError>,
    {
        let mut keys: Vec<K> = keys.into_iter().collect();
        let mut known = Rows::<K>::new();
        if let Some(cache) = &self.0.loaders.kept {
            cache.take_known(&mut keys, &mut known);
        }
        if keys.is_empty() {
            return Ok(known);
        }
        let (reply, answer) = oneshot::channel();
        let first = {
            let mut pending = lock(&self.0.pending);
            let first = pending.is_empty();
            let batch = pending.entry(TypeId::of::<K>()).or_insert_with(|| {
                Box::new(Pending::<K> {
                    keys: HashSet::new(),
                    waiters: Vec::new(),
                })
            });
            let batch = batch
                .as_any()
                .downcast_mut::<Pending<K>>()
                .expect("a batch is stored under its key's type");
            batch.keys.extend(keys.iter().cloned());
            batch.waiters.push((keys, reply));
            first
        };
        if first && self.0.start == Start::Timed {
            let shared = self.0.clone();
            tokio::spawn(async move {
                tokio::time::sleep(TIMED_DELAY).await;
                shared.flush();
            });
        }
        let mut rows = answer.await.unwrap_or_else(|_| {
            Err(Arc::new(ServiceError::Internal(
                "a batched read was abandoned".into(),
            )))
        })?;
        rows.extend(known);
        Ok(rows)
    }

    /// Runs `work`, starting this batcher's batches whenever `work` is left waiting: when a poll
    /// ends without `work` having asked to run again, every key its resolvers could reach is in.
    pub fn drive<F: Future>(&self, work: F) -> Driven<F> {
        Driven {
            work: Box::pin(work),
            shared: self.0.clone(),
            signal: Arc::new(Signal::default()),
        }
    }
}

/// Notes whether the driven work woke itself during a poll, and passes the wake on.
#[derive(Default)]
struct Signal {
    woken: AtomicBool,
    outer: Mutex<Option<Waker>>,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if let Some(waker) = lock(&self.outer).as_ref() {
            waker.wake_by_ref();
        }
    }
}

/// See [`Batcher::drive`].
pub struct Driven<F: Future> {
    work: Pin<Box<F>>,
    shared: Arc<Shared>,
    signal: Arc<Signal>,
}

impl<F: Future> Future for Driven<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        {
            let mut outer = lock(&this.signal.outer);
            if !outer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *outer = Some(cx.waker().clone());
            }
        }
        this.signal.woken.store(false, Ordering::SeqCst);
        let waker = Waker::from(this.signal.clone());
        match this.work.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(out) => Poll::Ready(out),
            Poll::Pending => {
                // Woken during the poll: more resolvers are ready to run and may add keys.
                if !this.signal.woken.load(Ordering::SeqCst) {
                    this.shared.flush();
                }
                Poll::Pending
            }
        }
    }
}
