//! The server under load: the release binary run as a separate process on its own database,
//! killed when dropped; and what /proc tells about it (memory, CPU, limits, load).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The HS256 secret every benchmark server runs with (tokens are minted in the bench).
pub const JWT_SECRET: &str = "bench-secret";

/// Clock ticks per second of /proc/<pid>/stat (USER_HZ).
pub const TICKS_PER_SECOND: f64 = 100.0;

/// A field of /proc/<pid>/status in kB (VmRSS, VmHWM).
pub fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// (soft, hard) "Max open files" of a process ("self" or a pid).
pub fn open_files_limit(pid: &str) -> Option<(usize, usize)> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut it = line["Max open files".len()..].split_whitespace();
    let parse = |s: Option<&str>| match s {
        Some("unlimited") => Some(usize::MAX),
        Some(s) => s.parse().ok(),
        None => None,
    };
    Some((parse(it.next())?, parse(it.next())?))
}

/// User + system CPU time of a process ("self" or a pid), in clock ticks (USER_HZ, 100/s).
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is the 3rd field, utime the 14th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The 1, 5 and 15 minute load averages, e.g. "0.52 0.61 0.70".
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The server binary: `explicit` when given; otherwise the one cargo built for benches
/// (CARGO_BIN_EXE_touchpoint); otherwise target/release/touchpoint.
pub fn server_binary(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    if let Some(path) = option_env!("CARGO_BIN_EXE_touchpoint")
        && Path::new(path).exists()
    {
        return Ok(path.into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target.join("release").join("touchpoint");
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "no server binary at {}: run `cargo build --release` first",
            path.display()
        ))
    }
}

/// A running server process; dropping it kills the process.
pub struct Server {
    child: Child,
    pub pid: u32,
    pub base: String,
    pub addr: std::net::SocketAddr,
    log: PathBuf,
    /// The log, the mail directory and (unless another database was given) the SQLite file.
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `serve --no-demo` on a fresh SQLite database in a temporary directory.
    pub async fn start(bin: &Path, http: &reqwest::Client) -> Result<Server, String> {
        Self::start_with(bin, http, None, &[]).await
    }

    /// `serve --no-demo` on `database_url` (None: a fresh SQLite file in the server's temporary
    /// directory), with `extra` arguments; returns once GET /readyz answers 2xx.
    pub async fn start_with(
        bin: &Path,
        http: &reqwest::Client,
        database_url: Option<&str>,
        extra: &[String],
    ) -> Result<Server, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("find a free port: {e}"))?
            .port();
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let database_url = match database_url {
            Some(url) => url.to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            ),
        };
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log).map_err(|e| format!("server log: {e}"))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| format!("server log: {e}"))?;
        // Through sh only to raise the soft open-files limit to the hard one; `exec` keeps the pid.
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@""#)
            .arg(bin)
            .args(["serve", "--listen", &addr.to_string(), "--no-demo"])
            .arg("--database-url")
            .arg(&database_url)
            .args(["--jwt-secret", JWT_SECRET])
            .arg("--mail-dir")
            .arg(dir.path().join("mail"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        let pid = child.id();
        let mut server = Server {
            child,
            pid,
            base: format!("http://{addr}"),
            addr,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "the server exited during start-up ({status}); its log:\n{}",
                    server.log_tail(40)
                ));
            }
            let ready = http
                .get(format!("{}/readyz", server.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if matches!(&ready, Ok(r) if r.status().is_success()) {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "GET /readyz did not answer 2xx within 30 s (last: {ready:?}); log:\n{}",
                    server.log_tail(40)
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The server's pid is the shell's, after exec; make sure the exec happened.
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        if exe.file_name() != bin.file_name() {
            eprintln!(
                "warning: pid {pid} runs {} rather than {}; RSS and CPU figures may be wrong",
                exe.display(),
                bin.display()
            );
        }
        Ok(server)
    }

    pub fn rss_kb(&self) -> u64 {
        proc_status_kb(self.pid, "VmRSS").unwrap_or(0)
    }

    /// CPU ticks (user + system) the server process has used so far.
    pub fn cpu_ticks(&self) -> Option<u64> {
        cpu_ticks(&self.pid.to_string())
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The value of an unlabelled metric on GET /metrics (e.g. `touchpoint_db_statements_total`);
    /// None when the server does not export it.
    pub async fn metric(&self, http: &reqwest::Client, name: &str) -> Result<Option<f64>, String> {
        let text = http
            .get(format!("{}/metrics", self.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| format!("GET /metrics: {e}"))?
            .text()
            .await
            .map_err(|e| format!("GET /metrics body: {e}"))?;
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok()))
    }

    /// Waits until the server is idle: under `busy` of a core over 300 ms (background work such
    /// as the email outbox rendering what the last load queued). Returns the time it took, or
    /// None when it was still busy at `limit`.
    pub async fn settle(&self, busy: f64, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        let window = Duration::from_millis(300);
        loop {
            let before = self.cpu_ticks()?;
            tokio::time::sleep(window).await;
            let after = self.cpu_ticks()?;
            let share =
                after.saturating_sub(before) as f64 / TICKS_PER_SECOND / window.as_secs_f64();
            if share < busy {
                return Some(started.elapsed());
            }
            if started.elapsed() > limit {
                return None;
            }
        }
    }
}

/// A load benchmark's `main`: runs `run` with the parsed options on a multi-threaded runtime and
/// exits with its code, or 2 when the options or the run fail. The runtime, and with it every
/// server guard, is dropped before the process exits.
pub fn run_to_exit<O, F>(options: Result<O, String>, run: impl FnOnce(O) -> F) -> !
where
    F: std::future::Future<Output = Result<i32, String>>,
{
    let code = match options {
        Ok(options) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            match runtime.block_on(run(options)) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("\nbenchmark failed: {e}");
                    2
                }
            }
        }
        Err(e) => {
            eprintln!("{e}");
            2
        }
    };
    let _ = std::io::Write::flush(&mut std::io::stdout());
    std::process::exit(code);
}
