//! Runs the FastAPI test app (`tests/fastapi/app.py`) under uvicorn for
//! integration tests: the real-server counterpart of the embedded server.
//!
//! The virtualenv `.venv-fastapi/` is made by `scripts/fastapi-venv.sh`, once
//! per test process (the script is a no-op when it is up to date). Each
//! [`FastApi`] is one uvicorn process on a free 127.0.0.1 port, killed on drop.
//! Tests that need it call [`require_fastapi`]: without Python/PyPI a local run
//! skips them with a warning, while CI (`CI=true`) fails loudly, so a broken
//! setup cannot pass as green.
//!
//! Only std: no test dependency beyond the crate's own. uvicorn's output goes
//! to a log file in the temp dir, quoted when it fails to start.

// Each integration test binary uses a different part of this helper.
#![allow(dead_code)]

use std::{
    fs::File,
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

/// How long uvicorn may take to answer `GET /stats` after being spawned.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A running uvicorn (or hypercorn) serving `tests/fastapi/app.py`; killed when dropped.
pub struct FastApi {
    child: Option<Child>,
    python: PathBuf,
    addr: SocketAddr,
    log: PathBuf,
    /// hypercorn's arguments; `None` runs uvicorn.
    hypercorn: Option<Vec<String>>,
    /// Where `/stats` is polled in plain HTTP (hypercorn with TLS also
    /// listens there, `--insecure-bind`).
    plain: SocketAddr,
    /// `http://127.0.0.1:PORT` (`https://` under TLS), without a trailing slash.
    pub base_url: String,
}

/// See [`FastApi::kill_and_restart_fault`].
pub struct KillAndRestart {
    /// The fault's `kind`, `start` and `end` keys, as TOML lines for a
    /// `[[faults]]` table.
    pub toml: String,
    /// Where the restarted uvicorn's pid is written.
    pidfile: PathBuf,
}

impl Drop for KillAndRestart {
    /// Kills the uvicorn the fault's `end` started, if it did.
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pidfile) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
    }
}

/// TLS for hypercorn: its certificate and key, and for mutual TLS the CA
/// it verifies client certificates against (`--verify-mode CERT_REQUIRED`).
pub struct HypercornTls {
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
    /// `--ca-certs`: require a client certificate issued by this CA.
    pub client_ca: Option<PathBuf>,
}

impl FastApi {
    /// Sets up the venv if needed, starts uvicorn on a free port and waits
    /// (at most 30 s) until `GET /stats` answers 200.
    pub fn start() -> Result<FastApi, String> {
        let python = venv_python()?;
        let addr = free_port()?;
        let log = std::env::temp_dir().join(format!("streamsoak-fastapi-{}.log", addr.port()));
        let mut server = FastApi {
            child: None,
            python,
            addr,
            log,
            hypercorn: None,
            plain: addr,
            base_url: format!("http://{addr}"),
        };
        server.spawn()?;
        Ok(server)
    }

    /// The same app under hypercorn, which speaks HTTP/2: over TLS with
    /// ALPN given `tls` (plus a plain `--insecure-bind` port for the
    /// readiness poll), else plain HTTP/1.1 and h2c.
    pub fn start_hypercorn(tls: Option<&HypercornTls>) -> Result<FastApi, String> {
        let python = venv_python()?;
        let addr = free_port()?;
        let plain = if tls.is_some() { free_port()? } else { addr };
        let log = std::env::temp_dir().join(format!("streamsoak-hypercorn-{}.log", addr.port()));
        let mut args = vec!["--bind".to_owned(), addr.to_string()];
        if let Some(tls) = tls {
            let path = |p: &Path| p.display().to_string();
            args.extend(["--certfile".to_owned(), path(&tls.cert)]);
            args.extend(["--keyfile".to_owned(), path(&tls.key)]);
            args.extend(["--insecure-bind".to_owned(), plain.to_string()]);
            if let Some(ca) = &tls.client_ca {
                args.extend(["--ca-certs".to_owned(), path(ca)]);
                args.extend(["--verify-mode".to_owned(), "CERT_REQUIRED".to_owned()]);
            }
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut server = FastApi {
            child: None,
            python,
            addr,
            log,
            hypercorn: Some(args),
            plain,
            base_url: format!("{scheme}://{addr}"),
        };
        server.spawn()?;
        Ok(server)
    }

    /// The uvicorn process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// The venv's python (to start uvicorn from a fault's exec command).
    pub fn python(&self) -> &std::path::Path {
        &self.python
    }

    /// The port uvicorn listens on (kept across [`FastApi::restart`]).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Kills uvicorn at once (SIGKILL) and reaps it: in-flight streams are
    /// cut and new connections are refused. No-op when not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Errors mean it already exited; either way it is gone after wait.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// An `exec` fault that kills this uvicorn (`start`, SIGKILL) and starts
    /// a new one on the same port (`end`), whose pid it writes to a file in
    /// `dir`; dropping the returned value kills that new process.
    pub fn kill_and_restart_fault(&self, dir: &Path) -> KillAndRestart {
        let pid = self.pid().expect("uvicorn running");
        let pidfile = dir.join("uvicorn.pid");
        let start = format!("kill -9 {pid}");
        let end = format!(
            "cd '{}' && ('{}' -m uvicorn app:app --host 127.0.0.1 --port {} >/dev/null 2>&1 & echo $! > '{}')",
            repo_root().join("tests/fastapi").display(),
            self.python().display(),
            self.port(),
            pidfile.display()
        );
        // TOML basic strings: backslashes and quotes escaped.
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        KillAndRestart {
            toml: format!(
                "kind = \"exec\"\nstart = \"{}\"\nend = \"{}\"",
                quote(&start),
                quote(&end)
            ),
            pidfile,
        }
    }

    /// Kills uvicorn if running and starts it again on the same port.
    /// The app's counters start from zero (new process).
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.spawn()
    }

    /// One HTTP/1.1 request with `Connection: close`; returns the status and
    /// the body as text. For the non-streaming endpoints (`/stats`,
    /// `/stats/reset`, statuses); a streamed body comes back chunk-encoded.
    pub fn request(&self, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
        http(self.plain, method, path, body)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = File::create(&self.log)
            .map_err(|err| format!("cannot create {}: {err}", self.log.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|err| format!("cannot reopen {}: {err}", self.log.display()))?;
        let port = self.addr.port().to_string();
        let mut command = Command::new(&self.python);
        match &self.hypercorn {
            None => command
                .args([
                    "-m",
                    "uvicorn",
                    "app:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port,
                ])
                .args(["--log-level", "warning"]),
            Some(args) => command
                .args(["-m", "hypercorn", "app:app"])
                .args(args)
                .args(["--log-level", "warning"]),
        };
        let child = command
            .current_dir(repo_root().join("tests/fastapi"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|err| format!("cannot run {}: {err}", self.python.display()))?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Polls `GET /stats` until it answers 200, the child exits, or 30 s pass.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if matches!(http(self.plain, "GET", "/stats", ""), Ok((200, _))) {
                return Ok(());
            }
            let exited = match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => Some(status.to_string()),
                Some(Ok(None)) => None,
                Some(Err(err)) => Some(err.to_string()),
                None => Some("not started".to_owned()),
            };
            if let Some(why) = exited {
                return Err(format!(
                    "the server exited ({why}); log:\n{}",
                    tail(&self.log)
                ));
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "uvicorn did not answer GET /stats on {} within {READY_WITHIN:?}; log:\n{}",
                    self.addr,
                    tail(&self.log)
                ));
            }
            // A readiness poll of another process: there is nothing to await.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for FastApi {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the FastAPI app, or explains why not: panics when `CI=true` (a CI
/// run must not skip these tests silently), else prints a warning to stderr
/// and returns `None` so the calling test can return early.
pub fn require_fastapi() -> Option<FastApi> {
    require(FastApi::start())
}

/// [`require_fastapi`] for hypercorn ([`FastApi::start_hypercorn`]).
pub fn require_hypercorn(tls: Option<&HypercornTls>) -> Option<FastApi> {
    require(FastApi::start_hypercorn(tls))
}

fn require(started: Result<FastApi, String>) -> Option<FastApi> {
    match started {
        Ok(server) => Some(server),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "\n\n*** CI=true and the FastAPI test server could not start ***\n{why}\n\
             (needs python3 with venv, and PyPI for scripts/fastapi-venv.sh)\n"
        ),
        Err(why) => {
            eprintln!("warning: skipping a FastAPI test, the server could not start: {why}");
            None
        }
    }
}

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python, running `scripts/fastapi-venv.sh` once per process.
fn venv_python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let existing = repo_root().join(".venv-fastapi/bin/python");
            let script = repo_root().join("scripts/fastapi-venv.sh");
            let output = Command::new("bash")
                .arg(&script)
                .current_dir(repo_root())
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .map_err(|err| format!("cannot run {}: {err}", script.display()))?;
            let printed = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            match (output.status.success(), existing.exists()) {
                (true, _) if !printed.is_empty() => Ok(PathBuf::from(printed)),
                (_, true) => {
                    eprintln!(
                        "warning: {} failed ({}); using the existing {}",
                        script.display(),
                        output.status,
                        existing.display()
                    );
                    Ok(existing)
                }
                _ => Err(format!("{} failed ({})", script.display(), output.status)),
            }
        })
        .clone()
}

/// A port that was free a moment ago (bound to 127.0.0.1:0, then released).
fn free_port() -> Result<SocketAddr, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map_err(|err| format!("cannot find a free port: {err}"))
}

fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
    let io = |err: std::io::Error| format!("{method} {path} on {addr}: {err}");
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(io)?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(io)?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{method} {path} on {addr}: no response head"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("{method} {path} on {addr}: bad status line"))?;
    Ok((status, body.to_owned()))
}

/// The last lines of uvicorn's log, for error messages.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
