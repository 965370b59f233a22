//! Starting and stopping real `sluice up` hosts, and talking HTTP to them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The repository root (where `spin.toml` is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// How to start a host.
pub struct HostConfig {
    pub manifest: PathBuf,
    pub state_dir: PathBuf,
    pub args: Vec<String>,
}

impl HostConfig {
    /// The application's own `spin.toml`, with state in `state_dir`.
    pub fn sluice(state_dir: &Path) -> HostConfig {
        HostConfig {
            manifest: root().join("spin.toml"),
            state_dir: state_dir.to_owned(),
            args: Vec::new(),
        }
    }

    /// The test fixture app (`tests/fixtures/trap`: `/trap`, `/busy`,
    /// `/sleep`), with state in `state_dir`.
    pub fn fixture(state_dir: &Path) -> HostConfig {
        HostConfig {
            manifest: root().join("tests/fixtures/trap/spin.toml"),
            ..HostConfig::sluice(state_dir)
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn variable(self, name: &str, value: &str) -> Self {
        self.arg("--variable").arg(format!("{name}={value}"))
    }
}

/// A running `sluice up`, stopped when dropped.
pub struct Host {
    child: Option<Child>,
    pub url: String,
    pub state_dir: PathBuf,
}

impl Host {
    /// Starts a host on a free loopback port and waits until it listens.
    pub fn start(config: HostConfig) -> Host {
        std::fs::create_dir_all(&config.state_dir).unwrap();
        let log = std::fs::File::create(config.state_dir.join("host.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("up")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--state-dir")
            .arg(&config.state_dir)
            .arg("-f")
            .arg(&config.manifest)
            .args(&config.args)
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start sluice up");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let log =
                    std::fs::read_to_string(config.state_dir.join("host.log")).unwrap_or_default();
                panic!("sluice up did not start listening:\n{log}");
            }
        };
        Host {
            child: Some(child),
            url,
            state_dir: config.state_dir,
        }
    }

    /// The admin token the host generated.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.state_dir.join("admin-token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// The token file, for `--token-file`.
    pub fn token_file(&self) -> String {
        self.state_dir
            .join("admin-token")
            .to_string_lossy()
            .into_owned()
    }

    /// Stops the host with SIGTERM and waits for a graceful exit.
    pub fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        for _ in 0..300 {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "sluice up exited with {status} after SIGTERM"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!("sluice up did not stop within 15 s of SIGTERM");
    }

    /// Kills the host with SIGKILL, as a crash or power cut would, and waits
    /// for it to be gone.
    pub fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What the host logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state_dir.join("host.log")).unwrap_or_default()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An HTTP answer.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP request.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(body.unwrap_or_default().to_vec()).unwrap();
    let mut response = agent
        .run(request)
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

/// A free loopback port (for servers the tests start, such as Redis).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
