//! Benchmark of email rendering: emails rendered per second on the path a real send takes.
//!
//! Setup, through the library: a fresh SQLite file in a temporary directory, the factory
//! templates published (`templates::ensure_defaults`), an `Outbox` that is never started (so
//! nothing is sent) and its built-in sample (the demo data in a private database with a schema
//! of its own, and a subject for every kind).
//!
//! * **Real path (A)**: `Outbox::render_source` with the published version's cache key, as a
//!   send renders: the template's data query against the schema as the order's customer, the
//!   brand read and added, then the compiled template (cached per version) rendered —
//!   Handlebars in strict mode (subject, HTML, text), MJML compiled by mrml, CSS inlined.
//!   ORDER_CONFIRMATION with one task and with two concurrent tasks (the machine has 2 cores),
//!   and every kind with one task.
//! * **Baseline (B)**, measured in the same run: a bare Handlebars render of the same kind's
//!   HTML template (same partials, strict mode, HTML escaping) against the context A saw, taken
//!   once. No data query, no subject or text part, no MJML, no CSS inlining.
//! * **Where the time goes** (ORDER_CONFIRMATION, one task): the data query
//!   (`communications::data::run`), the brand read (`brand::get`), Handlebars for all three
//!   parts, mrml (parse + render), css-inline, the URL guard (`render::neutralise`), and
//!   `render::render` (those four together, the library's own call); also, outside A, what a cache miss would cost (`render::compile`) and
//!   the published-version lookup a send does before rendering (`templates::published`).
//!
//! Before timing, every kind's output is checked: the baseline's MJML put through
//! `render::mjml_to_html` must give A's HTML byte for byte, and the bench's own subject and text
//! renders must give A's subject and text, so both sides render the same template and context.
//!
//! Rounds are interleaved (every measurement in round 1, then round 2, …); each round times a
//! batch sized to about `--round-ms`; the tables show the median round. With two tasks the
//! figure is the wall time per email of both tasks together (throughput).
//!
//! ```sh
//! cargo bench --bench emails                  # 9 rounds of ≈ 250 ms per measurement
//! cargo bench --bench emails -- --smoke       # 3 rounds of ≈ 20 ms; a few seconds
//! cargo bench --bench emails -- --rounds 15 --round-ms 500
//! ```
//!
//! The exit status is non-zero when a render fails or the outputs do not match.

#[path = "common/mod.rs"]
mod common;
use common::{median, micros, rate};

use std::hint::black_box;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use handlebars::Handlebars;
use touchpoint::auth::Principal;
use touchpoint::communications::mailer::Mailer;
use touchpoint::communications::templates::{self, PARTIALS, TemplateSource};
use touchpoint::communications::{
    DeliveryConfig, NotificationKind, Outbox, Subject, brand, data, render,
};
use touchpoint::db::Store;

// The server binary's allocator, so the figures are those of a real send.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use touchpoint::graphql::TouchpointSchema;
use touchpoint::ids::CustomerId;

/// The kind the headline figures and the breakdown are about.
const HEADLINE: NotificationKind = NotificationKind::OrderConfirmation;

/// One kind's template, subject and precomputed inputs.
struct Case {
    kind: NotificationKind,
    key: (String, String, i32),
    source: TemplateSource,
    subject: Subject,
    customer: CustomerId,
    /// The context A's render saw (data query result plus `brand`).
    context: serde_json::Value,
    /// The baseline registry: partials and the HTML template, strict, HTML-escaped.
    bare: Handlebars<'static>,
    /// Subject and text, strict, not escaped (as `render::compile` builds them).
    plain: Handlebars<'static>,
    /// The baseline's output (MJML), input of the mrml step.
    mjml: String,
    /// mrml's HTML before CSS inlining, input of the css-inline step.
    raw_html: String,
    /// The HTML after CSS inlining, input of the URL guard (`render::neutralise`).
    inlined: String,
    /// The rendered HTML's size.
    html_bytes: usize,
}

/// Everything the measurements share.
struct Ctx {
    outbox: Arc<Outbox>,
    /// The outbox's own database: templates and brand.
    store: Store,
    /// The sample's database and schema: what data queries run against.
    sample_store: Store,
    schema: TouchpointSchema,
    cases: Vec<Case>,
    headline: usize,
    /// The headline kind's template compiled once, as the outbox's cache holds it.
    compiled: Arc<render::Compiled>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// A: `render_source` with the version's cache key.
    Real(usize),
    /// B: bare Handlebars, the HTML part only.
    Bare(usize),
    Data,
    Brand,
    Handlebars,
    Mjml,
    Inline,
    Neutralise,
    Render,
    Compile,
    Lookup,
}

fn registry(escape: bool) -> Result<Handlebars<'static>, String> {
    let mut r = Handlebars::new();
    r.set_strict_mode(true);
    if !escape {
        r.register_escape_fn(handlebars::no_escape);
    }
    for (name, source) in PARTIALS {
        r.register_partial(name, *source)
            .map_err(|e| format!("partial {name}: {e}"))?;
    }
    Ok(r)
}

/// mrml as `render::mjml_to_html` calls it, without the CSS inlining.
fn mrml_only(mjml: &str) -> Result<String, String> {
    let parsed = mrml::parse(mjml).map_err(|e| format!("MJML: {e}"))?;
    parsed
        .element
        .render(&mrml::prelude::render::RenderOptions::default())
        .map_err(|e| format!("MJML: {e}"))
}

/// css-inline as `render::mjml_to_html` calls it.
fn inline_only(html: &str) -> Result<String, String> {
    css_inline::CSSInliner::options()
        .load_remote_stylesheets(false)
        .keep_at_rules(true)
        .keep_link_tags(true)
        .build()
        .inline(html)
        .map_err(|e| format!("CSS: {e}"))
}

impl Ctx {
    async fn real(&self, case: &Case) -> Result<(render::Rendered, serde_json::Value), String> {
        self.outbox
            .render_source(
                &self.schema,
                &self.sample_store,
                case.kind,
                Some(case.key.clone()),
                &case.source,
                &case.subject,
                Principal::Customer(case.customer),
                false,
            )
            .await
            .map_err(|p| format!("{}: {p}", case.kind.as_str()))
    }

    /// Runs one step once; returns a size, for `black_box`.
    async fn run(&self, step: Step) -> Result<usize, String> {
        let oc = &self.cases[self.headline];
        let fail = |e: &dyn std::fmt::Display| format!("{step:?}: {e}");
        Ok(match step {
            Step::Real(k) => self.real(&self.cases[k]).await?.0.html.len(),
            Step::Bare(k) => {
                let case = &self.cases[k];
                case.bare
                    .render("html", &case.context)
                    .map_err(|e| fail(&e))?
                    .len()
            }
            Step::Data => {
                let value = data::run(
                    &self.schema,
                    &self.sample_store,
                    &oc.source.data_query,
                    oc.kind,
                    &oc.subject,
                    Principal::Customer(oc.customer),
                )
                .await
                .map_err(|e| fail(&e))?;
                black_box(value).as_object().map_or(0, |m| m.len())
            }
            Step::Brand => brand::get(&self.store)
                .await
                .map_err(|e| fail(&e))?
                .name
                .len(),
            Step::Handlebars => {
                let subject = oc
                    .plain
                    .render("subject", &oc.context)
                    .map_err(|e| fail(&e))?;
                let html = oc.bare.render("html", &oc.context).map_err(|e| fail(&e))?;
                let text = if oc.source.text.is_some() {
                    oc.plain.render("text", &oc.context).map_err(|e| fail(&e))?
                } else {
                    String::new()
                };
                subject.len() + html.len() + text.len()
            }
            Step::Mjml => mrml_only(&oc.mjml)?.len(),
            Step::Inline => inline_only(&oc.raw_html)?.len(),
            Step::Neutralise => render::neutralise(&oc.inlined)?.len(),
            Step::Render => render::render(&self.compiled, &oc.context)
                .map_err(|e| fail(&e))?
                .html
                .len(),
            Step::Compile => {
                black_box(render::compile(&oc.source).map_err(|e| fail(&e))?);
                1
            }
            Step::Lookup => templates::published(&self.store.db, oc.kind, "en")
                .await
                .map_err(|e| fail(&e))?
                .map_or(0, |v| v.html.len()),
        })
    }
}

async fn setup(dir: &Path) -> Result<Ctx, String> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let store = Store::connect(&url, Default::default())
        .await
        .map_err(|e| format!("connect {url}: {e}"))?;
    templates::ensure_defaults(&store)
        .await
        .map_err(|e| format!("ensure_defaults: {e}"))?;
    let mailer = Mailer::new(None, dir.join("mail"))?;
    let outbox = Outbox::new(
        store.clone(),
        mailer,
        DeliveryConfig {
            poll: Duration::from_secs(1),
            retry_base: Duration::from_secs(2),
            max_attempts: 8,
            claim: Duration::from_secs(120),
            public_url: "http://127.0.0.1:8080".into(),
        },
        touchpoint::returns::ReturnPolicy::default(),
    );
    let sample = outbox
        .sample()
        .await
        .map_err(|e| format!("the sample: {e}"))?;
    let (sample_store, schema) = (sample.store.clone(), sample.schema.clone());
    let headline = templates::published(&store.db, HEADLINE, "en")
        .await
        .map_err(|e| format!("published {}: {e}", HEADLINE.as_str()))?
        .ok_or_else(|| format!("no published template for {}", HEADLINE.as_str()))?;
    let compiled =
        Arc::new(render::compile(&TemplateSource::from(&headline)).map_err(|e| e.to_string())?);
    let mut ctx = Ctx {
        outbox: outbox.clone(),
        store,
        sample_store,
        schema,
        cases: Vec::new(),
        headline: 0,
        compiled,
    };
    for kind in NotificationKind::ALL.iter().copied() {
        let (subject, customer) = sample
            .subject(kind)
            .ok_or_else(|| format!("no sample subject for {}", kind.as_str()))?;
        // The version a send uses: the one published in the outbox's database.
        let version = templates::published(&ctx.store.db, kind, "en")
            .await
            .map_err(|e| format!("published {}: {e}", kind.as_str()))?
            .ok_or_else(|| format!("no published template for {}", kind.as_str()))?;
        let source = TemplateSource::from(&version);
        let mut bare = registry(true)?;
        bare.register_template_string("html", &source.html)
            .map_err(|e| format!("{} html: {e}", kind.as_str()))?;
        let mut plain = registry(false)?;
        plain
            .register_template_string("subject", &source.subject)
            .map_err(|e| format!("{} subject: {e}", kind.as_str()))?;
        if let Some(text) = &source.text {
            plain
                .register_template_string("text", text)
                .map_err(|e| format!("{} text: {e}", kind.as_str()))?;
        }
        let mut case = Case {
            kind,
            key: (
                version.kind.clone(),
                version.locale.clone(),
                version.version,
            ),
            source,
            subject,
            customer,
            context: serde_json::Value::Null,
            bare,
            plain,
            mjml: String::new(),
            raw_html: String::new(),
            inlined: String::new(),
            html_bytes: 0,
        };
        let (rendered, context) = ctx.real(&case).await?;
        case.context = context;
        check(&mut case, &rendered)?;
        if kind == HEADLINE {
            ctx.headline = ctx.cases.len();
        }
        ctx.cases.push(case);
    }
    Ok(ctx)
}

/// Checks that the bench's own renders of the case give what A gave; fills the step inputs.
fn check(case: &mut Case, rendered: &render::Rendered) -> Result<(), String> {
    let name = case.kind.as_str();
    let mismatch = |part: &str| format!("{name}: the bench's {part} differs from render_source's");
    case.mjml = case
        .bare
        .render("html", &case.context)
        .map_err(|e| format!("{name} bare html: {e}"))?;
    if render::mjml_to_html(&case.mjml).map_err(|e| format!("{name}: {e}"))? != rendered.html {
        return Err(mismatch("HTML"));
    }
    case.raw_html = mrml_only(&case.mjml)?;
    case.inlined = inline_only(&case.raw_html)?;
    if case.inlined != rendered.html {
        return Err(mismatch("mrml + css-inline HTML"));
    }
    let subject = case
        .plain
        .render("subject", &case.context)
        .map_err(|e| format!("{name} subject: {e}"))?;
    if render::header_safe(&subject) != rendered.subject || rendered.subject.is_empty() {
        return Err(mismatch("subject"));
    }
    if case.source.text.is_some() {
        let text = case
            .plain
            .render("text", &case.context)
            .map_err(|e| format!("{name} text: {e}"))?;
        if text.trim().to_owned() + "\n" != rendered.text {
            return Err(mismatch("text"));
        }
    }
    case.html_bytes = rendered.html.len();
    Ok(())
}

/// Times `step` over a batch; returns seconds per call.
async fn time_batch(ctx: &Ctx, step: Step, batch: u64) -> Result<f64, String> {
    let start = Instant::now();
    for _ in 0..batch {
        black_box(ctx.run(black_box(step)).await?);
    }
    Ok(start.elapsed().as_secs_f64() / batch as f64)
}

/// `tasks` concurrent tasks each run `step` `batch` times; returns wall seconds per call.
async fn time_tasks(ctx: &Arc<Ctx>, step: Step, tasks: u64, batch: u64) -> Result<f64, String> {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                for _ in 0..batch {
                    black_box(ctx.run(black_box(step)).await?);
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for handle in handles {
        handle.await.map_err(|e| format!("task: {e}"))??;
    }
    Ok(start.elapsed().as_secs_f64() / (tasks * batch) as f64)
}

/// A batch size that takes about `target`.
async fn calibrate(ctx: &Ctx, step: Step, target: Duration) -> Result<u64, String> {
    let mut batch = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..batch {
            black_box(ctx.run(step).await?);
        }
        let took = start.elapsed();
        if took >= target / 4 || batch >= 1 << 30 {
            let per = took.as_secs_f64() / batch as f64;
            return Ok(((target.as_secs_f64() / per.max(1e-12)) as u64).clamp(1, 1 << 32));
        }
        batch *= 4;
    }
}

fn percent(part: f64, whole: f64) -> String {
    let p = 100.0 * part / whole;
    if p >= 10.0 {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

struct Options {
    smoke: bool,
    rounds: usize,
    round: Duration,
}

fn options() -> Result<Options, String> {
    let mut smoke = false;
    let mut rounds = None;
    let mut round_ms = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--rounds" => rounds = Some(number(args.next(), "--rounds")?),
            "--round-ms" => round_ms = Some(number(args.next(), "--round-ms")?),
            "--bench" => {} // passed by `cargo bench`
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Options {
        smoke,
        rounds: rounds.unwrap_or(if smoke { 3 } else { 9 }).max(1) as usize,
        round: Duration::from_millis(round_ms.unwrap_or(if smoke { 20 } else { 250 }).max(1)),
    })
}

fn number(raw: Option<String>, flag: &str) -> Result<u64, String> {
    raw.and_then(|r| r.parse().ok())
        .ok_or_else(|| format!("{flag} needs a number"))
}

async fn run(options: Options) -> Result<(), String> {
    let started = Instant::now();
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let ctx = Arc::new(setup(dir.path()).await?);
    let setup_took = started.elapsed();
    let h = ctx.headline;
    let kinds = ctx.cases.len();

    // One-task measurements: every kind's A and B, then the breakdown of the headline kind.
    let mut steps: Vec<Step> = Vec::new();
    for k in 0..kinds {
        steps.push(Step::Real(k));
        steps.push(Step::Bare(k));
    }
    steps.extend([
        Step::Data,
        Step::Brand,
        Step::Handlebars,
        Step::Mjml,
        Step::Inline,
        Step::Neutralise,
        Step::Render,
        Step::Compile,
        Step::Lookup,
    ]);
    // Two tasks at once: A and B of the headline kind.
    let concurrent = [(Step::Real(h), 2u64), (Step::Bare(h), 2u64)];

    let mut batches = Vec::with_capacity(steps.len());
    for &step in &steps {
        batches.push(calibrate(&ctx, step, options.round).await?);
    }
    let concurrent_batches: Vec<u64> = concurrent
        .iter()
        .map(|(step, _)| batches[steps.iter().position(|s| s == step).unwrap_or(0)])
        .collect();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); steps.len()];
    let mut concurrent_times: Vec<Vec<f64>> = vec![Vec::new(); concurrent.len()];
    for _ in 0..options.rounds {
        for (i, &step) in steps.iter().enumerate() {
            times[i].push(time_batch(&ctx, step, batches[i]).await?);
        }
        for (i, &(step, tasks)) in concurrent.iter().enumerate() {
            concurrent_times[i].push(time_tasks(&ctx, step, tasks, concurrent_batches[i]).await?);
        }
    }
    let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    let concurrent_medians: Vec<f64> = concurrent_times.iter_mut().map(|t| median(t)).collect();
    let of = |step: Step| medians[steps.iter().position(|s| *s == step).unwrap_or(0)];

    let (a1, b1) = (of(Step::Real(h)), of(Step::Bare(h)));
    let (a2, b2) = (concurrent_medians[0], concurrent_medians[1]);
    println!(
        "\nEmails rendered per second (median of {} rounds of ≈ {} ms each{}; setup {:.1} s)\n",
        options.rounds,
        options.round.as_millis(),
        if options.smoke { ", smoke" } else { "" },
        setup_took.as_secs_f64()
    );
    println!(
        "{} ({} bytes of HTML). A = `Outbox::render_source` with the version's cache key \
         (data query + brand + cached compiled template: Handlebars, mrml, css-inline); \
         B = bare Handlebars, HTML part only, same template and context.\n",
        HEADLINE.as_str(),
        ctx.cases[h].html_bytes
    );
    println!("| measurement | tasks | emails/s | µs per email | A ÷ B time | A ÷ B throughput |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| A: real path | 1 | {} | {} | {:.0}× | {} |",
        rate(a1),
        micros(a1),
        a1 / b1,
        percent(b1, a1)
    );
    println!(
        "| A: real path | 2 | {} | {} | {:.0}× | {} |",
        rate(a2),
        micros(a2),
        a2 / b2,
        percent(b2, a2)
    );
    println!(
        "| B: bare Handlebars | 1 | {} | {} | 1× | 100 % |",
        rate(b1),
        micros(b1)
    );
    println!(
        "| B: bare Handlebars | 2 | {} | {} | 1× | 100 % |",
        rate(b2),
        micros(b2)
    );
    println!(
        "\nTwo tasks vs one: A {:.2}× the throughput, B {:.2}× (µs per email is wall time over \
         both tasks' emails).",
        a1 / a2,
        b1 / b2
    );

    println!("\nWhere A's time goes ({}, one task):\n", HEADLINE.as_str());
    println!("| part | µs | share of A |");
    println!("|---|---:|---:|");
    let parts = [
        ("data query (`data::run`)", Step::Data),
        ("brand (`brand::get`)", Step::Brand),
        ("Handlebars: subject + HTML + text", Step::Handlebars),
        ("MJML → HTML (mrml parse + render)", Step::Mjml),
        ("CSS inlining (css-inline)", Step::Inline),
        (
            "URL guard (`render::neutralise`, lol_html)",
            Step::Neutralise,
        ),
    ];
    for (name, step) in parts {
        println!(
            "| {name} | {} | {} |",
            micros(of(step)),
            percent(of(step), a1)
        );
    }
    let render_all = of(Step::Render);
    let sum = of(Step::Data) + of(Step::Brand) + render_all;
    println!(
        "| `render::render` (the four above, one call) | {} | {} |",
        micros(render_all),
        percent(render_all, a1)
    );
    println!(
        "| data + brand + `render::render` | {} | {} |",
        micros(sum),
        percent(sum, a1)
    );
    println!("| A measured | {} | 100 % |", micros(a1));
    println!(
        "| not in A: compiling the template (a cache miss, `render::compile`) | {} | {} |",
        micros(of(Step::Compile)),
        percent(of(Step::Compile), a1)
    );
    println!(
        "| not in A: published-version lookup (`templates::published`) | {} | {} |",
        micros(of(Step::Lookup)),
        percent(of(Step::Lookup), a1)
    );

    println!("\nEvery kind (one task):\n");
    println!("| kind | HTML bytes | A emails/s | A µs | B renders/s | B µs | A ÷ B time |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let (mut sum_a, mut sum_b) = (0.0, 0.0);
    for (k, case) in ctx.cases.iter().enumerate() {
        let (a, b) = (of(Step::Real(k)), of(Step::Bare(k)));
        sum_a += a;
        sum_b += b;
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.0}× |",
            case.kind.as_str(),
            case.html_bytes,
            rate(a),
            micros(a),
            rate(b),
            micros(b),
            a / b
        );
    }
    let (mean_a, mean_b) = (sum_a / kinds as f64, sum_b / kinds as f64);
    println!(
        "| mean over {kinds} kinds | – | {} | {} | {} | {} | {:.0}× |",
        rate(mean_a),
        micros(mean_a),
        rate(mean_b),
        micros(mean_b),
        mean_a / mean_b
    );
    println!(
        "\nOutputs checked: for every kind, B's MJML through `render::mjml_to_html` is A's HTML, \
         and the subject and text match. Total run time {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("emails bench: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("emails bench: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("emails bench: {e}");
            ExitCode::FAILURE
        }
    }
}
