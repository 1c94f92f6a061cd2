//! The time services stamp rows and events with: the real clock, or a simulated one scoped to
//! a task, so a generator can write a believable past through the same code paths.
use std::future::Future;

use chrono::{DateTime, Utc};

tokio::task_local! {
    static SIMULATED: DateTime<Utc>;
}

/// The simulated time when the current task runs inside [`at`], otherwise `Utc::now()`.
pub fn now() -> DateTime<Utc> {
    SIMULATED.try_with(|t| *t).unwrap_or_else(|_| Utc::now())
}

/// Runs `f` with [`now`] returning `t`.
pub async fn at<F: Future>(t: DateTime<Utc>, f: F) -> F::Output {
    SIMULATED.scope(t, f).await
}

/// Spawns `f` on the runtime, at the current task's simulated time when it has one (a spawned
/// task does not inherit task-locals).
pub fn spawn<F>(f: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match SIMULATED.try_with(|t| *t) {
        Ok(t) => tokio::spawn(SIMULATED.scope(t, f)),
        Err(_) => tokio::spawn(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_scopes_the_simulated_time_to_its_future() {
        let past = DateTime::parse_from_rfc3339("2026-03-01T09:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap();
        let seen = at(past, async {
            tokio::task::yield_now().await;
            now()
        })
        .await;
        assert_eq!(seen, past);
        assert!(now() > past, "outside `at` the real clock is back");
        let nested = at(past, async {
            at(past + chrono::Duration::hours(1), async { now() }).await
        })
        .await;
        assert_eq!(nested, past + chrono::Duration::hours(1));
        let spawned = at(past, async { spawn(async { now() }).await.unwrap() }).await;
        assert_eq!(spawned, past, "a spawned task keeps the simulated time");
    }
}
