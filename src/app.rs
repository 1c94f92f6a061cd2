//! `App::build(config)`: the one way to assemble the service, used by main, tests and benches.
use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::auth::TokenVerifier;
use crate::communications::mailer::Mailer;
use crate::communications::{DeliveryConfig, Outbox};
use crate::config::{Config, DEV_JWT_SECRET};
use crate::db::Store;
use crate::demo::{self, DemoData};
use crate::error::StartupError;
use crate::events::bus::Bus;
use crate::events::dispatcher::Dispatcher;
use crate::graphql::{SchemaState, build_schema};
use crate::http::{HttpState, router};
use crate::lifecycle::Lifecycle;
use crate::telemetry::Metrics;

pub struct App {
    listener: TcpListener,
    router: axum::Router,
    store: Store,
    lifecycle: Lifecycle,
    shutdown_grace: std::time::Duration,
    /// What the demo seed created, when it ran.
    pub demo: Option<DemoData>,
}

impl App {
    pub async fn build(config: Config) -> Result<App, StartupError> {
        if config.production
            && config.jwt_secret == DEV_JWT_SECRET
            && config.jwt_public_key.is_none()
        {
            return Err(StartupError::Config(
                "refusing to run in production with the development JWT secret: set TOUCHPOINT_JWT_SECRET".into(),
            ));
        }
        let bench_fixed_body = match config.bench_fixed_response_bytes {
            Some(bytes) if bytes > crate::http::MAX_BENCH_FIXED_BYTES => {
                return Err(StartupError::Config(format!(
                    "--bench-fixed-response-bytes {bytes}: at most {}",
                    crate::http::MAX_BENCH_FIXED_BYTES
                )));
            }
            Some(bytes) => {
                tracing::warn!(bytes, "benchmark endpoint POST /bench/fixed is mounted");
                Some(crate::http::fixed_json_body(bytes))
            }
            None => None,
        };
        let verifier = match &config.jwt_public_key {
            Some(path) => {
                let pem = std::fs::read(path)?;
                TokenVerifier::rs256(&pem).map_err(StartupError::Config)?
            }
            None => TokenVerifier::hs256(&config.jwt_secret),
        };
        let metrics = Metrics::new();
        let store = Store::connect_pooled(
            &config.database_url,
            metrics.statement_counters(),
            config.db_pool_size,
        )
        .await?;
        let demo = if config.seeds_demo() {
            demo::seed_if_empty(&store, &config.returns.policy()).await?
        } else {
            None
        };
        let listener = TcpListener::bind(config.listen).await?;
        let public_url = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", listener.local_addr()?),
        };
        crate::communications::templates::ensure_defaults(&store)
            .await
            .map_err(|e| StartupError::Config(format!("email templates: {e}")))?;
        let mailer = Mailer::new(config.smtp_url.as_deref(), config.mail_dir.clone())
            .map_err(StartupError::Config)?;
        let outbox = Outbox::new(
            store.clone(),
            mailer,
            DeliveryConfig {
                poll: config.mail_poll,
                retry_base: config.mail_retry_base,
                max_attempts: config.mail_max_attempts,
                claim: config.mail_claim,
                public_url: public_url.clone(),
            },
            config.returns.policy(),
        );
        let bus = Bus::new(config.subscription_buffer);
        let lifecycle = Lifecycle::default();
        Dispatcher::start(
            store.clone(),
            bus.clone(),
            metrics.clone(),
            config.dispatch_poll,
            &lifecycle,
        )
        .await?;
        crate::fulfilment::spawn_deadline_watch(store.clone(), config.deadline_check);
        let state = SchemaState {
            store: store.clone(),
            bus,
            metrics: metrics.clone(),
            routing: config.routing.weights(),
            returns: config.returns.policy(),
            public_url,
            outbox: Some(outbox.clone()),
        };
        let schema = build_schema(state, &config.limits, config.production);
        outbox.set_schema(schema.clone());
        outbox.start(&lifecycle);
        crate::metrics::projection::start(store.clone(), &lifecycle);
        let state = HttpState {
            schema,
            store: store.clone(),
            verifier: Arc::new(verifier),
            metrics,
            graphiql: !config.production,
            max_bracket_depth: config.limits.max_bracket_depth,
            max_aliases: config.limits.max_aliases,
            request_timeout: config.limits.request_timeout,
            lifecycle: lifecycle.clone(),
            ws_init_timeout: config.ws_init_timeout,
            max_subscriptions: config.max_subscriptions_per_connection,
            bench_fixed_body,
        };
        let router = router(state, config.limits.max_body_bytes, &config.cors_origins)
            .map_err(StartupError::Config)?;
        Ok(App {
            listener,
            router,
            store,
            lifecycle,
            shutdown_grace: config.shutdown_grace,
            demo,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until the process is stopped (Ctrl-C or SIGTERM), then stops cleanly: requests in
    /// flight finish, WebSockets are closed with a close frame, background workers wind down.
    pub async fn run(self) -> std::io::Result<()> {
        // No Nagle delay: a pushed event goes out at once, not after the peer's delayed ACK.
        let listener = self.listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        let closing = self.lifecycle.closing.clone();
        axum::serve(listener, self.router)
            .with_graceful_shutdown(async move {
                shutdown_signal().await;
                closing.cancel();
            })
            .await?;
        if !self.lifecycle.wind_down(self.shutdown_grace).await {
            tracing::warn!("stopped before every background task had finished");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
