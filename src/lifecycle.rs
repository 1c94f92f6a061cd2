//! Stopping cleanly. On SIGTERM the server first stops serving (no new connections; requests in
//! flight finish; WebSockets get a close frame), then its background workers wind down (the
//! dispatcher stores its cursor, the notifier turns the last events into messages) and are
//! waited for.
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
}

impl Lifecycle {
    /// Runs `work` as a background task that the end of the process waits for.
    pub fn spawn<F>(&self, work: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(crate::db::in_background(work));
    }
}
