//! The command line: parse, then call into the library.
use std::time::Duration;

use clap::{Parser, Subcommand};
use touchpoint::App;
use touchpoint::auth::{Role, mint_token_with_scope};
use touchpoint::config::{Config, DEV_JWT_SECRET};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Makes the allocator hand freed memory back to the system at once rather than keeping it for
/// reuse, so the server's memory follows what it holds (idle connections, subscriptions). It runs
/// from `.init_array`, before the first allocation: the first arena is made with these settings.
/// Option numbers as in mimalloc.h (`mi_option_e`).
#[cfg(target_os = "linux")]
extern "C" fn tune_allocator() {
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: setting an option is allowed at any time, also before the allocator's own start.
    unsafe {
        libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
    }
}

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static TUNE_ALLOCATOR: extern "C" fn() = tune_allocator;

#[derive(Parser)]
#[command(
    name = "touchpoint",
    version,
    about = "One GraphQL API for the whole post-purchase experience"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve(Box<Config>),
    /// Create or upgrade the database schema, then exit.
    Migrate {
        /// As `--database-url` before the command (which it overrides).
        #[arg(long = "database-url", value_name = "DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Print one JWT on stdout.
    Token {
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The customer's ID as the API shows it (customer tokens).
        #[arg(long)]
        customer: Option<String>,
        /// The subject for staff and service tokens.
        #[arg(long, default_value = "cli")]
        sub: String,
        /// How long the token is valid, e.g. 1h, 30m, 7d.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// Space-separated service scopes, e.g. "orders stock".
        #[arg(long)]
        scope: Option<String>,
        #[arg(long, env = "TOUCHPOINT_JWT_SECRET", default_value = DEV_JWT_SECRET, hide_default_value = true)]
        jwt_secret: String,
    },
    /// Print the GraphQL SDL (schema.graphql is its output).
    ExportSchema,
    /// Write months of believable history into an empty database, through the services:
    /// orders in every channel, delays, cancellations, returns, refunds and the emails.
    DemoHistory {
        /// As `--database-url` before the command (which it overrides).
        #[arg(long = "database-url", value_name = "DATABASE_URL")]
        database_url: Option<String>,
        /// How many orders to place.
        #[arg(long, default_value_t = 20_000)]
        orders: usize,
        /// The same seed writes the same history.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many days the history spans, up to the start of today (UTC).
        #[arg(long, default_value_t = 120)]
        days: u32,
        /// Add to a database that already has orders.
        #[arg(long)]
        append: bool,
        /// Where the emails are written as .eml files.
        #[arg(long, env = "TOUCHPOINT_MAIL_DIR", default_value = "./var/mail")]
        mail_dir: std::path::PathBuf,
        /// The base of links in the emails.
        #[arg(
            long,
            env = "TOUCHPOINT_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        public_url: String,
    },
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| {
        format!("unknown role `{raw}`: customer, agent, marketing, service or admin")
    })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::ExportSchema) => {
            print!("{}", touchpoint::graphql::schema_sdl());
            Ok(())
        }
        Some(Command::Token {
            role,
            customer,
            sub,
            ttl,
            scope,
            jwt_secret,
        }) => {
            let subject = match (role, customer) {
                (Role::Customer, Some(id)) => Ok(id),
                (Role::Customer, None) => Err("a customer token needs --customer ID".to_owned()),
                (_, _) => Ok(sub),
            };
            subject.map(|s| {
                println!(
                    "{}",
                    mint_token_with_scope(&jwt_secret, role, &s, ttl, scope.as_deref())
                )
            })
        }
        Some(Command::Migrate { database_url }) => {
            touchpoint::telemetry::init_logging();
            let database_url = database_url.unwrap_or(cli.serve.database_url);
            touchpoint::db::Store::connect(&database_url, Default::default())
                .await
                .map(|_| tracing::info!("database is up to date"))
                .map_err(|e| e.to_string())
        }
        Some(Command::DemoHistory {
            database_url,
            orders,
            seed,
            days,
            append,
            mail_dir,
            public_url,
        }) => {
            let options = touchpoint::demo_history::Options {
                orders,
                seed,
                days,
                append,
                mail_dir,
                public_url,
                progress_every: 1_000,
            };
            demo_history(&database_url.unwrap_or(cli.serve.database_url), options).await
        }
        Some(Command::Serve(config)) => serve(*config).await,
        None => serve(cli.serve).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("touchpoint: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn demo_history(
    database_url: &str,
    options: touchpoint::demo_history::Options,
) -> Result<(), String> {
    let store = touchpoint::db::Store::connect_for_bulk_load(database_url, Default::default())
        .await
        .map_err(|e| e.to_string())?;
    let (orders, seed, days) = (options.orders, options.seed, options.days);
    println!("Writing {orders} orders over {days} days (seed {seed}) …");
    let summary = touchpoint::demo_history::generate(&store, options)
        .await
        .map_err(|e| e.to_string())?;
    let span = match (summary.first, summary.last) {
        (Some(a), Some(b)) => format!("from {} to {}", a.format("%Y-%m-%d"), b.format("%Y-%m-%d")),
        _ => "nothing".into(),
    };
    println!(
        "Done: {} orders {span}, {} customers ({} repeat orders) in {:.1}s.",
        summary.orders,
        summary.new_customers,
        summary.repeat_orders,
        summary.elapsed.as_secs_f64()
    );
    // The experience metrics' projection, so the dashboard's first look need not build it.
    let started = std::time::Instant::now();
    touchpoint::metrics::projection::refresh(&store, None)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "Experience metrics projection built in {:.1}s.",
        started.elapsed().as_secs_f64()
    );
    let mut refused: Vec<_> = summary.refused.into_iter().collect();
    refused.sort();
    for (step, count) in refused {
        let example = summary
            .refused_example
            .get(step)
            .cloned()
            .unwrap_or_default();
        println!("  {count} {step} steps were refused by the rules and skipped (e.g. {example})");
    }
    Ok(())
}

async fn serve(config: Config) -> Result<(), String> {
    touchpoint::telemetry::init_logging();
    let secret = config.jwt_secret.clone();
    let production = config.production;
    let app = App::build(config).await.map_err(|e| e.to_string())?;
    let addr = app.local_addr();
    tracing::info!(%addr, "listening");
    if !production {
        println!(
            "\nTouchpoint is up.\n  GraphiQL:  http://{addr}/graphql\n  Studio:    http://{addr}/studio   (sign in with the marketing or admin token)\n  Health:    http://{addr}/healthz   Metrics: http://{addr}/metrics"
        );
        if let Some((number, token)) = app.demo.as_ref().and_then(|d| d.delayed_order.as_ref()) {
            println!("  Tracking:  http://{addr}/track/{token}   (order {number}, running late)");
        }
        println!();
        println!("Tokens (valid 12 hours; send as `Authorization: Bearer …`):");
        let ttl = Duration::from_secs(12 * 3600);
        for (role, sub) in [
            (Role::Agent, "agent-demo"),
            (Role::Marketing, "marketing-demo"),
            (Role::Service, "service-demo"),
            (Role::Admin, "admin-demo"),
        ] {
            println!(
                "  {:<10} {}",
                role.as_str(),
                mint_token_with_scope(&secret, role, sub, ttl, None)
            );
        }
        if let Some(demo) = &app.demo {
            for (name, id) in &demo.customers {
                println!(
                    "  customer   {}   ({name})",
                    mint_token_with_scope(&secret, Role::Customer, &id.global(), ttl, None)
                );
            }
        } else {
            println!("  customer   touchpoint token --role customer --customer <Customer.id>");
        }
        println!();
    }
    app.run().await.map_err(|e| e.to_string())
}
