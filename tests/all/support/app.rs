//! Helpers for the end-to-end tests: a packed release, a host running
//! `spin.toml` (or it with another policy), admin requests, enrolment,
//! device requests and a throwaway Redis.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::cli::{Run, sluice};
use crate::support::host::{Host, HostConfig, free_port, http, root};

/// Keys and a packed release `1.2.0` for `cam-v2` in `dir`.
pub fn release(dir: &Path) {
    sluice(dir, &["keygen", "--keys", "keys"]).success();
    let image: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("image"), image).unwrap();
    sluice(
        dir,
        &[
            "release",
            "pack",
            "image",
            "--keys",
            "keys",
            "--version",
            "1.2.0",
            "--hardware",
            "cam-v2",
            "--security-version",
            "1",
            "--out",
            "rel",
            "--chunk-size",
            "64KiB",
        ],
    )
    .success();
}

pub fn trust(dir: &Path) -> String {
    format!("@{}", dir.join("keys/trust.json").display())
}

/// An admin request to `host` with its owner token.
pub fn admin(
    host: &Host,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> crate::support::host::Answer {
    admin_with(host, &host.token(), method, path, body)
}

/// An admin request to `host` with `token`.
pub fn admin_with(
    host: &Host,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> crate::support::host::Answer {
    let auth = format!("Bearer {token}");
    let body = body.map(|b| b.to_string().into_bytes());
    http(
        method,
        &format!("{}{path}", host.url),
        &[("authorization", &auth)],
        body.as_deref(),
    )
}

/// Adds operator `name` with `roles` at `url` with the owner `token`;
/// returns the new operator's token.
pub fn add_operator_at(url: &str, owner: &str, name: &str, roles: &[&str]) -> String {
    let auth = format!("Bearer {owner}");
    let body = json!({"name": name, "roles": roles}).to_string();
    let answer = http(
        "POST",
        &format!("{url}/v1/admin/operators"),
        &[("authorization", &auth)],
        Some(body.as_bytes()),
    );
    assert_eq!(answer.status, 201, "{}", answer.text());
    answer.json()["token"].as_str().unwrap().to_owned()
}

/// Adds operator `name` with `roles` through the owner token; returns its token.
pub fn add_operator(host: &Host, name: &str, roles: &[&str]) -> String {
    add_operator_at(&host.url, &host.token(), name, roles)
}

/// Writes `token` to `dir/NAME.token` (for `--token-file`) and returns the path.
pub fn token_file(dir: &Path, name: &str, token: &str) -> String {
    let path = dir.join(format!("{name}.token"));
    std::fs::write(&path, token).unwrap();
    path.to_string_lossy().into_owned()
}

/// `sluice ARGS --server URL --token-file FILE` with the token in `file`.
pub fn operate_with(dir: &Path, host: &Host, file: &str, args: &[&str]) -> Run {
    let mut args = args.to_vec();
    args.extend_from_slice(&["--server", &host.url, "--token-file", file]);
    sluice(dir, &args)
}

/// Enrols devices through the admin API at `url`; returns (id, secret) pairs.
pub fn enrol_at(url: &str, token: &str, ids: &[String]) -> Vec<(String, String)> {
    let devices: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "hardware": "cam-v2"}))
        .collect();
    enrol_records(url, token, devices)
}

/// Enrols devices given as the admin API's records; returns (id, secret) pairs.
pub fn enrol_records(url: &str, token: &str, devices: Vec<Value>) -> Vec<(String, String)> {
    let body = json!({"devices": devices}).to_string();
    let auth = format!("Bearer {token}");
    let answer = http(
        "POST",
        &format!("{url}/v1/admin/devices"),
        &[("authorization", &auth)],
        Some(body.as_bytes()),
    );
    assert_eq!(answer.status, 201, "{}", answer.text());
    answer.json()["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap().to_owned(),
                d["secret"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub fn enrol(host: &Host, ids: &[String]) -> Vec<(String, String)> {
    enrol_at(&host.url, &host.token(), ids)
}

pub fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

pub fn checkin(url: &str, device: &(String, String), version: &str) -> Value {
    let body = json!({"hardware": "cam-v2", "version": version, "security_version": 1}).to_string();
    let answer = http(
        "POST",
        &format!("{url}/v1/checkin"),
        &[("authorization", &basic(&device.0, &device.1))],
        Some(body.as_bytes()),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

pub fn status(url: &str, device: &(String, String), campaign: &str, state: &str) -> u16 {
    let body = json!({"campaign": campaign, "state": state}).to_string();
    http(
        "POST",
        &format!("{url}/v1/status"),
        &[("authorization", &basic(&device.0, &device.1))],
        Some(body.as_bytes()),
    )
    .status
}

/// `sluice release publish rel` to `host`, as arguments.
pub fn publish_args(host: &Host) -> Vec<String> {
    [
        "release",
        "publish",
        "rel",
        "--server",
        &host.url,
        "--token-file",
        &host.token_file(),
    ]
    .map(str::to_owned)
    .to_vec()
}

pub fn publish(dir: &Path, host: &Host) {
    let args = publish_args(host);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = sluice(dir, &args).success();
    assert_eq!(run.last_line(), "1.2.0", "{}", run.stdout);
}

/// `sluice ARGS --server URL --token-file FILE` against `host`; must succeed.
pub fn operate(dir: &Path, host: &Host, args: &[&str]) -> Run {
    let token_file = host.token_file();
    let mut args = args.to_vec();
    args.extend_from_slice(&["--server", &host.url, "--token-file", &token_file]);
    sluice(dir, &args).success()
}

pub fn create_campaign(dir: &Path, host: &Host, policy: &str) -> String {
    let run = operate(
        dir,
        host,
        &[
            "campaign",
            "create",
            "--release",
            "1.2.0",
            "--policy",
            policy,
        ],
    );
    run.last_line().to_owned()
}

/// The app's own `spin.toml`, written into `dir` with absolute paths and
/// `sluice_policy_{policy}.wasm` as its policy: one line differs from the
/// shipped file (checked). Returns its path.
pub fn app_with_policy(dir: &Path, policy: &str) -> PathBuf {
    let component = root().join(format!(
        "target/wasm32-wasip2/release/sluice_policy_{policy}.wasm"
    ));
    app_with_policy_at(dir, policy, &component)
}

/// [`app_with_policy`] with the policy component at `component`, named
/// `name` in the manifest's file name.
pub fn app_with_policy_at(dir: &Path, name: &str, component: &Path) -> PathBuf {
    let policy = name;
    let original = std::fs::read_to_string(root().join("spin.toml")).unwrap();
    let absolute = original.replace(
        "source = \"target/",
        &format!("source = \"{}/target/", root().display()),
    );
    let standard = root().join("target/wasm32-wasip2/release/sluice_policy_standard.wasm");
    let swapped = absolute.replace(
        &standard.display().to_string(),
        &component.display().to_string(),
    );
    let changed: Vec<(&str, &str)> = absolute
        .lines()
        .zip(swapped.lines())
        .filter(|(a, b)| a != b)
        .collect();
    let expected = usize::from(policy != "standard");
    assert_eq!(changed.len(), expected, "one line differs: {changed:?}");
    let manifest = dir.join(format!("spin-{policy}.toml"));
    std::fs::write(&manifest, &swapped).unwrap();
    manifest
}

/// A host for `manifest` with its state in `dir/state` and `dir`'s trust root.
pub fn host_for(dir: &Path, manifest: &Path) -> Host {
    Host::start(HostConfig {
        manifest: manifest.to_owned(),
        state_dir: dir.join("state"),
        args: vec![
            "--no-build".into(),
            "--variable".into(),
            format!("trust_root={}", trust(dir)),
        ],
    })
}

/// A throwaway redis-server on a free loopback port, killed when dropped.
pub struct Redis {
    child: std::process::Child,
    pub url: String,
}

impl Redis {
    pub fn start(dir: &Path) -> Redis {
        let port = free_port();
        let args = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .map(String::from);
        // Owned by `Redis` at once, so it is killed and waited for on every path.
        let redis = Redis {
            child: std::process::Command::new("redis-server")
                .args(args)
                .current_dir(dir)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server is needed for this test (scripts/test installs it)"),
            url: format!("redis://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return redis;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("redis-server did not start");
    }
}

impl Redis {
    /// A Spin runtime-config file in `dir` that puts the `default` store here.
    pub fn runtime_config(&self, dir: &Path) -> PathBuf {
        let path = dir.join("runtime-config.toml");
        std::fs::write(
            &path,
            format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
                self.url
            ),
        )
        .unwrap();
        path
    }
}

impl Redis {
    /// Two `sluice up` hosts in `dir` on this Redis, trusting the keys in
    /// `dir`, with the owner token `owner`.
    pub fn two_hosts(&self, dir: &Path, owner: &str) -> (Host, Host) {
        let runtime_config = self.runtime_config(dir);
        let config = |name: &str| {
            HostConfig::sluice(&dir.join(name))
                .arg("--runtime-config")
                .arg(runtime_config.to_string_lossy())
                .variable("trust_root", &trust(dir))
                .variable("admin_token", owner)
        };
        (Host::start(config("a")), Host::start(config("b")))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
