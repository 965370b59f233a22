//! `sluice up` end to end: real hosts on loopback, temporary state, HTTP.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::cli::{Run, scratch, sluice};
use crate::host::{Host, HostConfig, free_port, http, root};

/// Keys and a packed release `1.2.0` for `cam-v2` in `dir`.
pub fn release(dir: &Path) {
    sluice(dir, &["keygen", "--out", "keys"]).success();
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
pub fn admin(host: &Host, method: &str, path: &str, body: Option<Value>) -> crate::host::Answer {
    admin_with(host, &host.token(), method, path, body)
}

/// An admin request to `host` with `token`.
pub fn admin_with(
    host: &Host,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> crate::host::Answer {
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

#[test]
fn a_published_release_survives_a_restart_and_devices_update_through_the_composed_policy() {
    let (_guard, dir) = scratch();
    release(&dir);
    let config = || HostConfig::sluice(&dir.join("state")).variable("trust_root", &trust(&dir));
    let host = Host::start(config());
    publish(&dir, &host);
    let campaign = create_campaign(
        &dir,
        &host,
        r#"{"stages":[{"percent":100}],"failures":{"max_rate":0.99}}"#,
    );
    assert_eq!(campaign, "c1");
    let devices = enrol(&host, &["cam-1".to_string()]);
    host.stop();

    let host = Host::start(config());
    let answer = admin(&host, "GET", "/v1/admin/releases/1.2.0", None);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["manifests"][0]["chunks"], 10);
    // Check-in goes through the check-in component and the composed standard policy.
    let offer = checkin(&host.url, &devices[0], "1.0.0");
    assert_eq!(offer["action"], "update", "{offer}");
    let manifest_url = format!("{}{}", host.url, offer["manifest_url"].as_str().unwrap());
    let manifest = http(
        "GET",
        &manifest_url,
        &[("authorization", &basic(&devices[0].0, &devices[0].1))],
        None,
    );
    assert_eq!(manifest.status, 200);
    assert_eq!(
        manifest.body,
        std::fs::read(dir.join("rel/manifest")).unwrap(),
        "served byte for byte"
    );
    // A chunk, by range, with the caching headers.
    let chunk = std::fs::read_dir(dir.join("rel/chunks"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let name = chunk.file_name().into_string().unwrap();
    let part = http(
        "GET",
        &format!("{}/v1/chunks/{name}", host.url),
        &[("range", "bytes=10-19")],
        None,
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, std::fs::read(chunk.path()).unwrap()[10..20]);
    assert_eq!(
        part.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    for state in ["downloading", "installing", "succeeded"] {
        assert_eq!(status(&host.url, &devices[0], &campaign, state), 200);
    }
    let run = operate(&dir, &host, &["campaign", "status", &campaign]);
    assert!(run.stdout.contains("running"), "{}", run.stdout);
    assert!(run.stdout.contains("succeeded 1"), "{}", run.stdout);
    operate(&dir, &host, &["campaign", "pause", &campaign]);
    let audit = admin(&host, "GET", "/v1/admin/audit", None).json();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "release.publish",
            "campaign.create",
            "device.enrol",
            "campaign.pause"
        ]
    );
    host.stop();
}

#[test]
fn bad_requests_get_413_404_and_401() {
    let (_guard, dir) = scratch();
    let host = Host::start(
        HostConfig::sluice(&dir.join("state"))
            .arg("--max-body")
            .arg("1KiB"),
    );
    let big = vec![b'x'; 2048];
    let answer = http("POST", &format!("{}/v1/checkin", host.url), &[], Some(&big));
    assert_eq!(answer.status, 413);
    // Every path no other route takes is the dashboard's, which knows only
    // its page and assets.
    let answer = http("GET", &format!("{}/not/a/page", host.url), &[], None);
    assert_eq!(answer.status, 404);
    assert!(answer.header("content-security-policy").is_some());
    let answer = http("GET", &format!("{}/v1/admin/releases", host.url), &[], None);
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["error"], "unauthorized");
    host.stop();

    // A path no route of the manifest matches: as Spin, 404 with an empty body.
    let without_dashboard = app_with_policy(&dir, "standard");
    let text = std::fs::read_to_string(&without_dashboard).unwrap();
    let catch_all = "route = \"/...\"\ncomponent = \"dashboard\"";
    assert!(text.contains(catch_all));
    let text = text.replace(catch_all, "route = \"/ui/...\"\ncomponent = \"dashboard\"");
    std::fs::write(&without_dashboard, text).unwrap();
    let host = Host::start(HostConfig {
        manifest: without_dashboard,
        state_dir: dir.join("state"),
        args: vec!["--no-build".into()],
    });
    let answer = http("GET", &format!("{}/not/in/spin.toml", host.url), &[], None);
    assert_eq!(
        (answer.status, answer.body.len()),
        (404, 0),
        "as Spin: 404, empty body"
    );
    host.stop();
}

#[test]
fn a_trapping_component_answers_500_and_the_host_keeps_serving() {
    let (_guard, dir) = scratch();
    let host = Host::start(HostConfig::fixture(&dir.join("state")));
    for _ in 0..3 {
        let answer = http("GET", &format!("{}/trap", host.url), &[], None);
        assert_eq!(answer.status, 500);
        let answer = http("GET", &format!("{}/still/here/", host.url), &[], None);
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.text(),
            "ok /still/here/",
            "spin-path-info of a /... route"
        );
    }
    assert!(
        host.log().contains("trapping on purpose"),
        "the trap is logged"
    );
    host.stop();
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

#[test]
fn the_policy_is_swapped_by_editing_one_line() {
    let (_guard, dir) = scratch();
    release(&dir);
    let standard = app_with_policy(&dir, "standard");
    let hold = app_with_policy(&dir, "hold");

    let host = host_for(&dir, &standard);
    publish(&dir, &host);
    create_campaign(
        &dir,
        &host,
        r#"{"stages":[{"percent":100}],"failures":{"max_rate":0.99}}"#,
    );
    let devices = enrol(&host, &["cam-1".to_string(), "cam-2".to_string()]);
    assert_eq!(checkin(&host.url, &devices[0], "1.0.0")["action"], "update");
    host.stop();

    let host = host_for(&dir, &hold);
    let answer = checkin(&host.url, &devices[1], "1.0.0");
    assert_eq!(answer["action"], "none", "{answer}");
    assert_eq!(answer["reason"], "all updates are on hold");
    assert!(
        answer["next_poll_seconds"].as_u64().unwrap() >= 2880,
        "held devices come back in about an hour"
    );
    host.stop();
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

#[test]
fn two_hosts_on_one_redis_share_state_and_keep_counters_exact() {
    let (_guard, dir) = scratch();
    release(&dir);
    let redis = Redis::start(&dir);
    let (a, b) = redis.two_hosts(&dir, "shared-token");
    std::fs::write(dir.join("token"), "shared-token").unwrap();
    let token_file = dir.join("token").to_string_lossy().into_owned();
    // Written through one host, read through the other.
    let run = sluice(
        &dir,
        &[
            "release",
            "publish",
            "rel",
            "--server",
            &a.url,
            "--token-file",
            &token_file,
        ],
    )
    .success();
    assert_eq!(run.last_line(), "1.2.0");
    let run = sluice(
        &dir,
        &[
            "campaign",
            "create",
            "--release",
            "1.2.0",
            "--policy",
            r#"{"stages":[{"percent":100}],"failures":{"max_rate":0.99}}"#,
            "--server",
            &b.url,
            "--token-file",
            &token_file,
        ],
    )
    .success();
    let campaign = run.last_line().to_owned();
    let ids: Vec<String> = (0..40).map(|i| format!("cam-{i}")).collect();
    let auth = "Bearer shared-token";
    let devices = enrol_at(&a.url, "shared-token", &ids);
    let urls = [a.url.clone(), b.url.clone()];
    for (i, d) in devices.iter().enumerate() {
        assert_eq!(checkin(&urls[i % 2], d, "1.0.0")["action"], "update");
    }
    // Every device reports each step twice, concurrently, half through each host.
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (devices, urls, campaign) = (&devices, &urls, &campaign);
            scope.spawn(move || {
                for (i, d) in devices.iter().enumerate() {
                    let outcome = if i % 4 == 0 { "failed" } else { "succeeded" };
                    for state in ["downloading", "installing", outcome] {
                        let code = status(&urls[(i + t) % 2], d, campaign, state);
                        assert!(code == 200 || code == 409, "{code}");
                    }
                }
            });
        }
    });
    let progress = http(
        "GET",
        &format!("{}/v1/admin/campaigns/{campaign}", b.url),
        &[("authorization", auth)],
        None,
    )
    .json();
    assert_eq!(progress["total"]["offered"], 40, "{progress}");
    assert_eq!(progress["total"]["succeeded"], 30, "{progress}");
    assert_eq!(progress["total"]["failed"], 10, "{progress}");
    assert_eq!(progress["in_flight"], 0);
    a.stop();
    b.stop();
}
