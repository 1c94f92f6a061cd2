//! Stopping cleanly. On SIGTERM the server first stops serving (no new connections; requests in
//! flight finish; WebSockets get a close frame), then its background workers wind down (the
//! notifier turns the last events into messages, the sender finishes the batch it holds), and
//! last the dispatcher publishes every event written so far and stores its cursor.
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Default)]
pub struct Lifecycle {
    /// Cancelled when the server stops serving: open WebSockets close.
    pub closing: CancellationToken,
    /// Cancelled once serving has ended: background workers finish what they hold and return.
    pub stopping: CancellationToken,
    /// WebSocket connections and background workers, waited for at the end.
    pub tasks: TaskTracker,
    /// Cancelled once `tasks` have ended: nothing writes events any more.
    pub finishing: CancellationToken,
    /// The dispatcher, waited for after `tasks`.
    pub last: TaskTracker,
}

impl Lifecycle {
    /// Runs `work` as a background task that the end of the process waits for.
    pub fn spawn<F>(&self, work: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(crate::db::in_background(work));
    }

    /// Runs `work` as a background task that ends after every other (see `finishing`).
    pub fn spawn_last<F>(&self, work: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.last.spawn(crate::db::in_background(work));
    }

    /// After serving has ended: winds the workers down, then the dispatcher, within `grace`.
    pub async fn wind_down(&self, grace: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        self.stopping.cancel();
        self.tasks.close();
        let workers = tokio::time::timeout_at(deadline, self.tasks.wait()).await;
        self.finishing.cancel();
        self.last.close();
        let dispatcher = tokio::time::timeout_at(deadline, self.last.wait()).await;
        workers.is_ok() && dispatcher.is_ok()
    }
}
