//! Runs fakellm (PyPI, MIT; a mock OpenAI + Anthropic streaming server we
//! did not write) for the LLM stream tests: one `fakellm serve` on a free
//! 127.0.0.1 port with `tests/fakellm/rules.yaml`, killed on drop.
//!
//! The venv `.venv-fakellm/` is made by `scripts/fastapi-venv.sh
//! tests/fakellm/requirements.txt .venv-fakellm` (a no-op when up to date).
//! fakellm needs no tokenizer or model download, so it runs offline.
//! [`require_fakellm`]: CI (`CI=true`) fails loudly when it cannot start; a
//! local run without Python/PyPI skips with a warning.

#![allow(dead_code)]

use std::{
    fs::File,
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running `fakellm serve`; killed when dropped.
pub struct FakeLlm {
    child: Child,
    addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn venv() -> Result<PathBuf, String> {
    let output = Command::new("bash")
        .args([
            "scripts/fastapi-venv.sh",
            "tests/fakellm/requirements.txt",
            ".venv-fakellm",
        ])
        .current_dir(root())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("cannot run scripts/fastapi-venv.sh: {err}"))?;
    let python = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if !output.status.success() || !python.exists() {
        return Err(format!(
            "scripts/fastapi-venv.sh failed ({})",
            output.status
        ));
    }
    Ok(python.with_file_name("fakellm"))
}

impl FakeLlm {
    /// Sets up the venv, starts fakellm and waits (≤ 30 s) for `GET /_fakellm/stats`.
    pub fn start() -> Result<FakeLlm, String> {
        let fakellm = venv()?;
        let addr = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|err| format!("no free port: {err}"))?;
        let log_path = std::env::temp_dir().join(format!("streamsoak-fakellm-{}.log", addr.port()));
        let log = File::create(&log_path).map_err(|err| err.to_string())?;
        let log_err = log.try_clone().map_err(|err| err.to_string())?;
        let child = Command::new(&fakellm)
            .args(["serve", "--host", "127.0.0.1", "--port"])
            .arg(addr.port().to_string())
            .arg("--config")
            .arg(root().join("tests/fakellm/rules.yaml"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|err| format!("cannot run {}: {err}", fakellm.display()))?;
        let mut server = FakeLlm {
            child,
            addr,
            base_url: format!("http://{addr}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.get("/_fakellm/stats").is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("fakellm exited ({status}):\n{log}"));
            }
            if Instant::now() > deadline {
                return Err("fakellm did not answer within 30 s".to_owned());
            }
            // Readiness of another process: nothing to await.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// `GET path` with `Connection: close`: the body (JSON endpoints only).
    pub fn get(&self, path: &str) -> Result<String, String> {
        let io = |err: std::io::Error| err.to_string();
        let mut stream =
            TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).map_err(io)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(io)?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .map_err(io)?;
        let mut response = String::new();
        stream.read_to_string(&mut response).map_err(io)?;
        let (head, body) = response.split_once("\r\n\r\n").ok_or("no response head")?;
        if !head.starts_with("HTTP/1.1 200") {
            return Err(format!("GET {path}: {head}"));
        }
        Ok(body.to_owned())
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts fakellm, or (outside CI) warns and returns `None`.
pub fn require_fakellm() -> Option<FakeLlm> {
    match FakeLlm::start() {
        Ok(server) => Some(server),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "\n\n*** CI=true and fakellm could not start ***\n{why}\n\
             (needs python3 with venv, and PyPI for scripts/fastapi-venv.sh)\n"
        ),
        Err(why) => {
            eprintln!("warning: skipping a fakellm test: {why}");
            None
        }
    }
}
