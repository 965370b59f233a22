//! The service's behaviour through its HTTP-level handlers, natively, on an
//! in-memory store with the real `staged` policy.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use sluice_protocol::{
    DeviceFacts, Envelope, KeyStatement, Limits, ManifestBuilder, ReleaseInfo, SecretKey,
    SignedManifest, TrustRoot, Verifier,
};
use sluice_service::kernel::credentials::basic_header;
use sluice_service::kernel::memory_store::MemoryStore;
use sluice_service::{Config, Environment, Request, Response, Service, route};

const T0: u64 = 1_800_000_000;
const TOKEN: &str = "operator-token";

struct TestEnv {
    now: AtomicU64,
    random: AtomicU64,
}

impl Environment for TestEnv {
    fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
    fn fill_random(&self, buf: &mut [u8]) {
        let n = self.random.fetch_add(1, Ordering::SeqCst);
        let digest = sluice_protocol::Digest::of(&n.to_le_bytes());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = digest.as_bytes()[i % 32];
        }
    }
}

struct Fleet {
    policy: &'static (dyn sluice_policy::Policy + Sync),
    store: MemoryStore,
    config: Config,
    env: TestEnv,
    root: SecretKey,
    signer: SecretKey,
    statement: Envelope,
    /// Operator tokens made so far, by name.
    operators: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

struct Dev {
    id: String,
    secret: String,
    hardware: String,
}

impl Fleet {
    fn new() -> Fleet {
        let root = SecretKey::from_seed([1; 32]);
        let signer = SecretKey::from_seed([2; 32]);
        let trust = TrustRoot::new(vec![root.public_key()], 1).unwrap();
        let statement = KeyStatement::new(1, T0, vec![signer.public_key()], vec![])
            .unwrap()
            .sign(&[&root]);
        Fleet {
            policy: &sluice_policy_staged::Staged,
            store: MemoryStore::new(),
            config: Config {
                admin_token: Some(TOKEN.into()),
                trust_root: Some(trust),
                poll_seconds: 600,
                ..Config::default()
            },
            env: TestEnv {
                now: AtomicU64::new(T0),
                random: AtomicU64::new(0),
            },
            root,
            signer,
            statement,
            operators: Default::default(),
        }
    }

    /// The token of operator `name`, added with `roles` by the owner token
    /// the first time it is asked for.
    fn operator(&self, name: &str, roles: &[&str]) -> String {
        if let Some(token) = self.operators.lock().unwrap().get(name) {
            return token.clone();
        }
        let r = self.admin(
            "POST",
            "/v1/admin/operators",
            json!({"name": name, "roles": roles}).to_string(),
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let token = r.json_body()["token"].as_str().unwrap().to_owned();
        self.operators
            .lock()
            .unwrap()
            .insert(name.to_owned(), token.clone());
        token
    }

    /// An admin request with `token`.
    fn admin_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: impl Into<Vec<u8>>,
    ) -> Response {
        self.call(
            Request::new(method, path)
                .header("authorization", &format!("Bearer {token}"))
                .body(body),
        )
    }

    fn call(&self, request: Request) -> Response {
        let svc = Service {
            store: &self.store,
            policy: self.policy,
            config: &self.config,
            env: &self.env,
        };
        route(&svc, &request)
    }

    fn with_policy(mut self, policy: &'static (dyn sluice_policy::Policy + Sync)) -> Fleet {
        self.policy = policy;
        self
    }

    fn health(&self, dev: &Dev, campaign: &str, health: Value) -> Response {
        let body = json!({"campaign": campaign, "state": "health", "health": health});
        self.call(
            Request::new("POST", "/v1/status")
                .header("authorization", &basic_header(&dev.id, &dev.secret))
                .body(body.to_string()),
        )
    }

    fn advance(&self, seconds: u64) {
        self.env.now.fetch_add(seconds, Ordering::SeqCst);
    }

    fn admin(&self, method: &str, path: &str, body: impl Into<Vec<u8>>) -> Response {
        self.call(
            Request::new(method, path)
                .header("authorization", &format!("Bearer {TOKEN}"))
                .body(body),
        )
    }

    fn enrol(&self, ids: &[&str], hardware: &str, tags: &[&str]) -> Vec<Dev> {
        let devices: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id, "hardware": hardware, "tags": tags}))
            .collect();
        let r = self.admin(
            "POST",
            "/v1/admin/devices",
            json!({"devices": devices}).to_string(),
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json_body()["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| Dev {
                id: d["id"].as_str().unwrap().into(),
                secret: d["secret"].as_str().unwrap().into(),
                hardware: hardware.into(),
            })
            .collect()
    }

    fn pack(
        &self,
        version: &str,
        hardware: &[&str],
        security_version: u64,
        image: &[u8],
    ) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut builder = ManifestBuilder::new(Limits::default());
        let chunks: Vec<Vec<u8>> = image.chunks(1000).map(<[u8]>::to_vec).collect();
        for c in &chunks {
            builder.add_chunk(c).unwrap();
        }
        let info = ReleaseInfo {
            version: version.into(),
            hardware: hardware.iter().map(|h| h.to_string()).collect(),
            security_version,
            created_at: T0 - 10,
            expires_at: T0 + 10_000_000,
        };
        let manifest = builder.finish(info, self.signer.key_id()).unwrap();
        let signed = SignedManifest::sign(&manifest, &self.signer, self.statement.clone()).unwrap();
        (signed.to_bytes(), chunks)
    }

    /// Enrols `count` devices named `{prefix}{n}`.
    fn enrol_many(&self, prefix: &str, count: usize) -> Vec<Dev> {
        let ids: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
        ids.chunks(1000)
            .flat_map(|batch| {
                let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
                self.enrol(&refs, "cam-v2", &[])
            })
            .collect()
    }

    fn upload(&self, chunks: &[Vec<u8>]) {
        for c in chunks {
            let digest = sluice_protocol::Digest::of(c);
            let r = self.admin("PUT", &format!("/v1/admin/chunks/{digest}"), c.clone());
            assert!(r.status == 201 || r.status == 200, "{r:?}");
        }
    }

    fn publish(&self, version: &str, hardware: &[&str], security_version: u64) -> Vec<u8> {
        let (manifest, chunks) =
            self.pack(version, hardware, security_version, &image(version, 3500));
        self.upload(&chunks);
        let r = self.admin("POST", "/v1/admin/releases", manifest.clone());
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        manifest
    }

    fn campaign(&self, body: Value) -> String {
        let r = self.admin("POST", "/v1/admin/campaigns", body.to_string());
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json_body()["id"].as_str().unwrap().to_owned()
    }

    fn checkin_as(&self, dev: &Dev, version: &str, security_version: u64) -> Response {
        self.call(
            Request::new("POST", "/v1/checkin")
                .header("authorization", &basic_header(&dev.id, &dev.secret))
                .body(json!({"hardware": dev.hardware, "version": version, "security_version": security_version}).to_string()),
        )
    }

    fn checkin(&self, dev: &Dev, version: &str) -> Value {
        let r = self.checkin_as(dev, version, 1);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json_body()
    }

    fn status(&self, dev: &Dev, campaign: &str, state: &str) -> Response {
        let mut body = json!({"campaign": campaign, "state": state});
        if state == "failed" {
            body["error"] = json!({"phase": "boot", "code": "E_BOOT", "detail": "kernel panic"});
        }
        self.call(
            Request::new("POST", "/v1/status")
                .header("authorization", &basic_header(&dev.id, &dev.secret))
                .body(body.to_string()),
        )
    }

    fn finish(&self, dev: &Dev, campaign: &str, outcome: &str) {
        for state in [
            "downloading",
            "downloaded",
            "installing",
            "rebooting",
            outcome,
        ] {
            let r = self.status(dev, campaign, state);
            assert_eq!(
                r.status,
                200,
                "{state}: {}",
                String::from_utf8_lossy(&r.body)
            );
        }
    }

    fn progress(&self, campaign: &str) -> Value {
        let r = self.admin("GET", &format!("/v1/admin/campaigns/{campaign}"), "");
        assert_eq!(r.status, 200);
        r.json_body()
    }
}

fn image(seed: &str, len: usize) -> Vec<u8> {
    let s = seed.as_bytes();
    (0..len)
        .map(|i| s[i % s.len()].wrapping_add(i as u8))
        .collect()
}

fn all_at_once() -> Value {
    json!({"stages": [{"percent": 100}]})
}

#[path = "service/ddi.rs"]
mod ddi;

fn assert_error(r: &Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json_body();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[test]
fn a_device_is_offered_downloads_verifies_and_reports_success() {
    let fleet = Fleet::new();
    let devs = fleet.enrol(&["cam-1"], "cam-v2", &[]);
    let cam = &devs[0];
    assert_eq!(fleet.checkin(cam, "1.0")["action"], "none");
    let manifest = fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));

    let answer = fleet.checkin(cam, "1.0");
    assert_eq!(answer["action"], "update");
    assert_eq!(answer["campaign"], c.as_str());
    assert_eq!(answer["release"], "2.0");
    let next = answer["next_poll_seconds"].as_u64().unwrap();
    assert!((480..=720).contains(&next), "jittered around 600: {next}");

    // The manifest, exactly as published, verifies on the device.
    let url = answer["manifest_url"].as_str().unwrap();
    let r = fleet.call(
        Request::new("GET", url).header("authorization", &basic_header(&cam.id, &cam.secret)),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, manifest);
    let verifier = Verifier::new(TrustRoot::new(vec![fleet.root.public_key()], 1).unwrap());
    let release = verifier
        .verify_for_device(
            &r.body,
            &DeviceFacts {
                hardware: "cam-v2".into(),
                committed_security_version: 1,
                now: T0,
            },
        )
        .unwrap();

    // Every chunk, whole and by ranges.
    for (i, chunk) in release.manifest().chunks.iter().enumerate() {
        let path = format!("/v1/chunks/{}", chunk.sha256);
        let whole = fleet.call(Request::new("GET", &path));
        assert_eq!(whole.status, 200);
        assert_eq!(
            whole.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(
            whole.header("etag"),
            Some(format!("\"{}\"", chunk.sha256).as_str())
        );
        release.verify_chunk(i, &whole.body).unwrap();
        let tail = fleet.call(Request::new("GET", &path).header("range", "bytes=100-"));
        assert_eq!(tail.status, 206);
        assert_eq!(tail.body, whole.body[100..]);
        assert_eq!(
            tail.header("content-range"),
            Some(format!("bytes 100-{}/{}", chunk.size - 1, chunk.size).as_str())
        );
    }

    fleet.finish(cam, &c, "succeeded");
    let p = fleet.progress(&c);
    assert_eq!(p["total"]["offered"], 1);
    assert_eq!(p["total"]["succeeded"], 1);
    assert_eq!(p["in_flight"], 0);
    // Back on the new version: nothing more to do, and the fleet count moved.
    assert_eq!(fleet.checkin(cam, "2.0")["action"], "none");
    let p = fleet.progress(&c);
    assert_eq!(p["versions"], json!({"2.0": 1}));
}

#[test]
fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let fleet = Fleet::new();
    let devs = fleet.enrol(&["cam-1", "cam-2"], "cam-v2", &[]);
    let cam = &devs[0];
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    let auth = basic_header(&cam.id, &cam.secret);
    let before = fleet.store.snapshot();

    let checkin = |auth: &str, body: &str| {
        fleet.call(
            Request::new("POST", "/v1/checkin")
                .header("authorization", auth)
                .body(body),
        )
    };
    let good = json!({"hardware": "cam-v2", "version": "1.0", "security_version": 1}).to_string();
    assert_error(&checkin(&auth, "{not json"), 400, "malformed_json");
    assert_error(&checkin(&auth, &"x".repeat(20_000)), 413, "body_too_large");
    assert_error(
        &checkin(
            &auth,
            r#"{"hardware":"cam-v2","version":"1","security_version":1,"evil":1}"#,
        ),
        400,
        "malformed_json",
    );
    assert_error(
        &checkin(
            &auth,
            r#"{"hardware":"cam-v2","version":"../x","security_version":1}"#,
        ),
        400,
        "bad_request",
    );
    assert_error(
        &checkin(&basic_header("ghost", "nope"), &good),
        401,
        "unauthorized",
    );
    assert_error(
        &checkin(&basic_header(&cam.id, "wrong"), &good),
        401,
        "unauthorized",
    );
    assert_error(
        &fleet.call(Request::new("POST", "/v1/checkin").body(good.clone())),
        401,
        "unauthorized",
    );
    assert_error(
        &checkin(
            &auth,
            &json!({"hardware": "doorbell", "version": "1.0", "security_version": 1}).to_string(),
        ),
        409,
        "hardware_mismatch",
    );
    assert_error(
        &fleet.call(Request::new("GET", "/v1/checkin").header("authorization", &auth)),
        405,
        "method_not_allowed",
    );

    let status = |body: Value| {
        fleet.call(
            Request::new("POST", "/v1/status")
                .header("authorization", &auth)
                .body(body.to_string()),
        )
    };
    assert_error(
        &status(json!({"campaign": c, "state": "exploded"})),
        400,
        "bad_request",
    );
    assert_error(
        &status(json!({"campaign": "c999", "state": "downloading"})),
        404,
        "not_found",
    );
    assert_error(
        &status(json!({"campaign": c, "state": "downloading"})),
        409,
        "conflict",
    );

    let admin = |auth: Option<&str>| {
        let mut r = Request::new("POST", "/v1/admin/devices")
            .body(json!({"devices": [{"id": "x", "hardware": "h"}]}).to_string());
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        fleet.call(r)
    };
    assert_error(&admin(None), 401, "unauthorized");
    assert_error(&admin(Some("Bearer wrong")), 401, "unauthorized");
    assert_error(
        &fleet.admin("POST", "/v1/admin/devices", "[]"),
        400,
        "malformed_json",
    );
    assert_error(
        &fleet.admin(
            "POST",
            "/v1/admin/devices",
            json!({"devices": [{"id": "cam-1", "hardware": "cam-v2"}]}).to_string(),
        ),
        409,
        "conflict",
    );
    assert_error(
        &fleet.admin(
            "POST",
            "/v1/admin/devices",
            json!({"devices": [{"id": "a:b", "hardware": "cam-v2"}]}).to_string(),
        ),
        400,
        "bad_request",
    );
    assert_error(
        &fleet.admin(
            "POST",
            "/v1/admin/campaigns",
            json!({"release": "9.9"}).to_string(),
        ),
        404,
        "not_found",
    );
    assert_error(
        &fleet.admin(
            "POST",
            "/v1/admin/campaigns",
            json!({"release": "2.0", "policy": {"stages": []}}).to_string(),
        ),
        422,
        "invalid_policy_config",
    );
    assert_error(
        &fleet.admin("POST", "/v1/admin/campaigns/c999/pause", ""),
        404,
        "not_found",
    );
    assert_error(
        &fleet.admin("POST", &format!("/v1/admin/campaigns/{c}/explode"), ""),
        404,
        "not_found",
    );
    assert_error(
        &fleet.admin("GET", "/v1/admin/nothing", ""),
        404,
        "not_found",
    );
    assert_error(
        &fleet.admin("GET", "/v1/admin/audit?after=x", ""),
        400,
        "bad_request",
    );
    assert_error(
        &fleet.call(Request::new("GET", "/v1/chunks/nothex")),
        400,
        "bad_request",
    );
    assert_error(
        &fleet.call(Request::new(
            "GET",
            &format!("/v1/chunks/{}", "0".repeat(64)),
        )),
        404,
        "not_found",
    );
    assert_error(
        &fleet
            .call(Request::new("GET", "/v1/releases/9.9/manifest").header("authorization", &auth)),
        404,
        "not_found",
    );
    assert_error(
        &fleet.call(Request::new("GET", "/v1/releases/2.0/manifest")),
        401,
        "unauthorized",
    );

    assert_eq!(
        fleet.store.snapshot(),
        before,
        "a refused request changed the store"
    );
    assert_eq!(fleet.call(Request::new("GET", "/nowhere")).status, 404);
}

#[test]
fn publishing_verifies_signatures_and_requires_every_chunk() {
    let fleet = Fleet::new();
    let (manifest, chunks) = fleet.pack("3.0", &["cam-v2"], 2, &image("x", 5000));
    // Chunks first: refused while any is missing.
    fleet.upload(&chunks[..chunks.len() - 1]);
    assert_error(
        &fleet.admin("POST", "/v1/admin/releases", manifest.clone()),
        409,
        "chunks_missing",
    );
    assert_eq!(
        fleet.admin("GET", "/v1/admin/releases/3.0", "").status,
        404,
        "not visible"
    );
    fleet.upload(&chunks);
    // A chunk whose content does not match its name is refused.
    let wrong = fleet.admin(
        "PUT",
        &format!("/v1/admin/chunks/{}", sluice_protocol::Digest::of(b"a")),
        b"b".to_vec(),
    );
    assert_error(&wrong, 422, "digest_mismatch");
    // A tampered manifest is refused.
    let mut tampered = manifest.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    assert_error(
        &fleet.admin("POST", "/v1/admin/releases", tampered),
        422,
        "manifest_refused",
    );
    // A manifest signed by a key the root never certified is refused.
    let rogue = SecretKey::from_seed([9; 32]);
    let mut b = ManifestBuilder::new(Limits::default());
    b.add_chunk(&chunks[0]).unwrap();
    let info = ReleaseInfo {
        version: "6.6.6".into(),
        hardware: vec!["cam-v2".into()],
        security_version: 9,
        created_at: T0,
        expires_at: T0 + 100,
    };
    let evil = SignedManifest::sign(
        &b.finish(info, rogue.key_id()).unwrap(),
        &rogue,
        fleet.statement.clone(),
    )
    .unwrap();
    let r = fleet.admin("POST", "/v1/admin/releases", evil.to_bytes());
    assert_error(&r, 422, "manifest_refused");
    assert!(
        r.json_body()["message"]
            .as_str()
            .unwrap()
            .contains(&rogue.key_id().to_string())
    );

    assert_eq!(
        fleet
            .admin("POST", "/v1/admin/releases", manifest.clone())
            .status,
        201
    );
    assert_eq!(
        fleet.admin("POST", "/v1/admin/releases", manifest).status,
        200,
        "idempotent"
    );
    // Same version and hardware, different content: releases are immutable.
    let (other, other_chunks) = fleet.pack("3.0", &["cam-v2"], 2, &image("y", 100));
    fleet.upload(&other_chunks);
    assert_error(
        &fleet.admin("POST", "/v1/admin/releases", other),
        409,
        "conflict",
    );
}

#[test]
fn publishing_without_a_trust_root_is_disabled() {
    let mut fleet = Fleet::new();
    fleet.config.trust_root = None;
    let (manifest, chunks) = fleet.pack("1.0", &["cam"], 1, b"abc");
    fleet.upload(&chunks);
    assert_error(
        &fleet.admin("POST", "/v1/admin/releases", manifest),
        503,
        "no_trust_root",
    );
}

#[test]
fn a_revoked_key_statement_given_to_the_server_stops_publishing_with_that_key() {
    let fleet = Fleet::new();
    let new_signer = SecretKey::from_seed([3; 32]);
    let v2 = KeyStatement::new(
        2,
        T0,
        vec![new_signer.public_key()],
        vec![fleet.signer.key_id()],
    )
    .unwrap()
    .sign(&[&fleet.root]);
    let r = fleet.admin(
        "PUT",
        "/v1/admin/key-statement",
        sluice_protocol::encode_statement_file(&v2),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_error(
        &fleet.admin(
            "PUT",
            "/v1/admin/key-statement",
            sluice_protocol::encode_statement_file(&v2),
        ),
        409,
        "conflict",
    );
    let (manifest, chunks) = fleet.pack("4.0", &["cam"], 1, b"abc");
    fleet.upload(&chunks);
    let r = fleet.admin("POST", "/v1/admin/releases", manifest);
    assert_error(&r, 422, "manifest_refused");
    assert!(
        r.json_body()["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
}

#[test]
fn a_device_is_never_offered_other_hardware_or_a_lower_security_version() {
    let fleet = Fleet::new();
    let cams = fleet.enrol(&["cam-1", "cam-2"], "cam-v2", &[]);
    let bells = fleet.enrol(&["bell-1"], "doorbell", &[]);
    fleet.publish("5.0", &["cam-v2"], 5);
    fleet.campaign(json!({"release": "5.0", "policy": all_at_once()}));
    assert_eq!(fleet.checkin(&bells[0], "1.0")["action"], "none");
    // A device that already committed security version 6 is not offered 5.
    let r = fleet.checkin_as(&cams[0], "4.9", 6);
    assert_eq!(r.json_body()["action"], "none");
    let r = fleet.checkin_as(&cams[1], "4.9", 5);
    assert_eq!(r.json_body()["action"], "update");
    // And the manifest endpoint serves only the device's own hardware.
    let r = fleet.call(Request::new("GET", "/v1/releases/5.0/manifest").header(
        "authorization",
        &basic_header(&bells[0].id, &bells[0].secret),
    ));
    assert_error(&r, 404, "no_image_for_hardware");
}

#[test]
fn selectors_target_by_tag_id_and_version() {
    let fleet = Fleet::new();
    let lab = fleet.enrol(&["lab-1"], "cam-v2", &["lab"]);
    let field = fleet.enrol(&["field-1", "field-2"], "cam-v2", &["field"]);
    fleet.publish("2.0", &["cam-v2"], 1);
    fleet.campaign(
        json!({"release": "2.0", "policy": all_at_once(), "selector": {"tags": ["lab"]}}),
    );
    assert_eq!(fleet.checkin(&lab[0], "1.0")["action"], "update");
    assert_eq!(fleet.checkin(&field[0], "1.0")["action"], "none");
    fleet.publish("2.1", &["cam-v2"], 1);
    fleet.campaign(json!({"release": "2.1", "policy": all_at_once(),
                          "selector": {"ids": ["field-2"], "versions": ["1.0"]}}));
    assert_eq!(fleet.checkin(&field[0], "1.0")["action"], "none");
    assert_eq!(
        fleet.checkin(&field[1], "0.9")["action"],
        "none",
        "wrong version"
    );
    assert_eq!(fleet.checkin(&field[1], "1.0")["action"], "update");
}

#[test]
fn a_repeated_status_report_counts_once() {
    let fleet = Fleet::new();
    let devs = fleet.enrol(&["cam-1"], "cam-v2", &[]);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    fleet.checkin(&devs[0], "1.0");
    fleet.checkin(&devs[0], "1.0");
    fleet.finish(&devs[0], &c, "succeeded");
    let again = fleet.status(&devs[0], &c, "succeeded");
    assert_eq!(again.status, 200);
    assert_eq!(again.json_body()["duplicate"], true);
    // A resumed download after power loss is accepted and changes nothing.
    let p = fleet.progress(&c);
    assert_eq!(p["total"]["offered"], 1);
    assert_eq!(p["total"]["succeeded"], 1);
    assert_error(&fleet.status(&devs[0], &c, "downloading"), 409, "conflict");
}

#[test]
fn counters_are_exact_after_many_interleaved_concurrent_reports() {
    let fleet = Fleet::new();
    let devs = fleet.enrol_many("dev-", 200);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0", "policy": {"stages": [{"percent": 100}], "max_failure_rate": 1.0}}));
    for d in &devs {
        assert_eq!(fleet.checkin(d, "1.0")["action"], "update");
    }
    // Every device reports every step three times, from four threads at once.
    std::thread::scope(|scope| {
        for t in 0..4 {
            let fleet = &fleet;
            let devs = &devs;
            let c = &c;
            scope.spawn(move || {
                for (i, d) in devs.iter().enumerate() {
                    let outcome = if i % 10 == 0 { "failed" } else { "succeeded" };
                    for state in ["downloading", "installing", outcome] {
                        for _ in 0..3 {
                            let r = fleet.status(d, c, state);
                            assert!(r.status == 200 || r.status == 409, "thread {t}: {r:?}");
                        }
                    }
                }
            });
        }
    });
    let p = fleet.progress(&c);
    assert_eq!(p["total"]["offered"], 200);
    assert_eq!(p["total"]["succeeded"], 180);
    assert_eq!(p["total"]["failed"], 20);
    assert_eq!(p["steps"][0]["counts"]["succeeded"], 180);
    assert_eq!(p["in_flight"], 0);
    assert_eq!(p["failure_codes"], json!({"E_BOOT": 20}));
}

#[test]
fn one_device_cannot_read_or_write_anothers_state() {
    let fleet = Fleet::new();
    let devs = fleet.enrol(&["cam-1", "cam-2"], "cam-v2", &[]);
    let (a, b) = (&devs[0], &devs[1]);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    fleet.checkin(b, "1.0");
    // a's secret does not open b's identity.
    let impostor = Dev {
        id: b.id.clone(),
        secret: a.secret.clone(),
        hardware: b.hardware.clone(),
    };
    assert_error(&fleet.status(&impostor, &c, "failed"), 401, "unauthorized");
    assert_error(&fleet.checkin_as(&impostor, "1.0", 1), 401, "unauthorized");
    // a reporting on b's campaign touches only a's own (absent) rollout.
    assert_error(&fleet.status(a, &c, "failed"), 409, "conflict");
    let p = fleet.progress(&c);
    assert_eq!(p["total"]["failed"], 0);
    // Device views are for operators only.
    let r = fleet.call(
        Request::new("GET", "/v1/admin/devices/cam-2")
            .header("authorization", &basic_header(&a.id, &a.secret)),
    );
    assert_error(&r, 401, "unauthorized");
    let view = fleet
        .admin("GET", "/v1/admin/devices/cam-2", "")
        .json_body();
    assert_eq!(view["state"]["rollout"]["phase"], "offered");
    assert!(
        view.get("credential").is_none(),
        "the credential hash is never shown"
    );
}

#[test]
fn a_revoked_device_authenticates_nowhere_and_revoking_is_audited_once() {
    let fleet = Fleet::new();
    let devs = fleet.enrol(&["cam-1", "cam-2"], "cam-v2", &[]);
    let (kept, lost) = (&devs[0], &devs[1]);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    fleet.checkin(lost, "1.0");
    let head = |fleet: &Fleet| sluice_service::ops::audit::head(&fleet.store).unwrap();
    // Bad revocations are refused and change nothing.
    let before = head(&fleet);
    for (path, body, status) in [
        ("/v1/admin/devices/cam-2/revoke", json!({"reason": ""}), 400),
        (
            "/v1/admin/devices/cam-2/revoke",
            json!({"reason": "x".repeat(501)}),
            400,
        ),
        (
            "/v1/admin/devices/cam-2/revoke",
            json!({"why": "stolen"}),
            400,
        ),
        (
            "/v1/admin/devices/cam-9/revoke",
            json!({"reason": "stolen"}),
            404,
        ),
    ] {
        let r = fleet.admin("POST", path, body.to_string());
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(head(&fleet), before);

    // The name is the token's: a header naming someone else changes nothing.
    let alice = fleet.operator("alice", &["security-officer"]);
    let r = fleet.call(
        Request::new("POST", "/v1/admin/devices/cam-2/revoke")
            .header("authorization", &format!("Bearer {alice}"))
            .header("x-sluice-operator", "the-ceo")
            .body(json!({"reason": "stolen from the lab"}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json_body()["revoked"]["by"], "alice");
    // Revoking again changes nothing.
    let again = fleet.admin(
        "POST",
        "/v1/admin/devices/cam-2/revoke",
        json!({"reason": "again"}).to_string(),
    );
    assert_eq!(
        again.json_body()["revoked"]["reason"],
        "stolen from the lab"
    );
    let log = fleet.admin("GET", "/v1/admin/audit", "").json_body();
    let revocations: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "device.revoke")
        .collect();
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0]["actor"], "alice");
    assert_eq!(revocations[0]["target"], "cam-2");

    // Its secret opens nothing: check-in, status, manifest, DDI.
    assert_error(&fleet.checkin_as(lost, "1.0", 1), 401, "unauthorized");
    assert_error(&fleet.status(lost, &c, "downloading"), 401, "unauthorized");
    let manifest = fleet.call(
        Request::new("GET", "/v1/releases/2.0/manifest")
            .header("authorization", &basic_header(&lost.id, &lost.secret)),
    );
    assert_error(&manifest, 401, "unauthorized");
    let ddi = fleet.call(
        Request::new("GET", "/DEFAULT/controller/v1/cam-2")
            .header("authorization", &format!("TargetToken {}", lost.secret)),
    );
    assert_eq!(ddi.status, 401);
    // The other device is untouched, and the revoked one stays on record.
    fleet.checkin(kept, "1.0");
    let view = fleet
        .admin("GET", "/v1/admin/devices/cam-2", "")
        .json_body();
    assert_eq!(view["revoked"]["reason"], "stolen from the lab");
    assert_eq!(view["state"]["rollout"]["phase"], "offered");
}

#[test]
fn stages_open_after_soak_and_success() {
    let fleet = Fleet::new();
    let devs = fleet.enrol_many("d", 300);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0", "policy": {"stages": [
        {"percent": 10, "soak_seconds": 600, "min_devices": 5}, {"percent": 100}]}}));
    let offered: Vec<&Dev> = devs
        .iter()
        .filter(|d| fleet.checkin(d, "1.0")["action"] == "update")
        .collect();
    assert!(
        (15..=45).contains(&offered.len()),
        "about 10% of 300: {}",
        offered.len()
    );
    // Deterministic cohort: the same devices, however often they ask.
    let again = devs
        .iter()
        .filter(|d| fleet.checkin(d, "1.0")["action"] == "update")
        .count();
    assert_eq!(again, offered.len());
    for d in &offered {
        fleet.finish(d, &c, "succeeded");
    }
    let waiting = devs
        .iter()
        .find(|d| !offered.iter().any(|o| o.id == d.id))
        .unwrap();
    assert_eq!(
        fleet.checkin(waiting, "1.0")["action"],
        "none",
        "still soaking"
    );
    fleet.advance(601);
    assert_eq!(
        fleet.checkin(waiting, "1.0")["action"],
        "update",
        "stage 1 open"
    );
    assert_eq!(fleet.progress(&c)["campaign"]["stage"], 1);
    let audit = fleet.admin("GET", "/v1/admin/audit", "").json_body();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"campaign.advance"), "{actions:?}");
}

#[test]
fn failures_halt_the_campaign_in_the_canary_stage() {
    let fleet = Fleet::new();
    let devs = fleet.enrol_many("d", 200);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0", "policy": {"stages": [
        {"percent": 5, "soak_seconds": 60}, {"percent": 100}], "min_sample": 2}}));
    let canary: Vec<&Dev> = devs
        .iter()
        .filter(|d| fleet.checkin(d, "1.0")["action"] == "update")
        .collect();
    assert!(canary.len() >= 2);
    for d in &canary {
        fleet.finish(d, &c, "failed");
    }
    let p = fleet.progress(&c);
    assert_eq!(p["campaign"]["state"], "halted", "{p}");
    assert!(
        p["campaign"]["reason"]
            .as_str()
            .unwrap()
            .contains("failure rate")
    );
    fleet.advance(10_000);
    assert!(
        devs.iter()
            .all(|d| fleet.checkin(d, "1.0")["action"] == "none"),
        "no offers after a halt"
    );
    assert_eq!(fleet.progress(&c)["total"]["offered"], canary.len());
}

#[test]
fn pause_resume_abort_and_rollback() {
    let fleet = Fleet::new();
    let devs = fleet.enrol(&["a", "b", "c", "d"], "cam-v2", &[]);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    assert_eq!(fleet.checkin(&devs[0], "1.0")["action"], "update");
    assert_eq!(
        fleet
            .admin("POST", &format!("/v1/admin/campaigns/{c}/pause"), "")
            .status,
        200
    );
    assert_error(
        &fleet.admin("POST", &format!("/v1/admin/campaigns/{c}/pause"), ""),
        409,
        "conflict",
    );
    assert_eq!(
        fleet.checkin(&devs[1], "1.0")["action"],
        "none",
        "no new offers while paused"
    );
    assert_eq!(
        fleet.checkin(&devs[0], "1.0")["action"],
        "update",
        "in-flight devices carry on"
    );
    assert_eq!(
        fleet
            .admin("POST", &format!("/v1/admin/campaigns/{c}/resume"), "")
            .status,
        200
    );
    assert_eq!(fleet.checkin(&devs[1], "1.0")["action"], "update");

    // Device a installs; then the operator rolls back.
    fleet.finish(&devs[0], &c, "succeeded");
    assert_eq!(
        fleet
            .admin("POST", &format!("/v1/admin/campaigns/{c}/rollback"), "")
            .status,
        200
    );
    let answer = fleet.checkin(&devs[0], "2.0");
    assert_eq!(answer["action"], "rollback");
    assert_eq!(answer["release"], "1.0");
    assert_eq!(fleet.status(&devs[0], &c, "rolled_back").status, 200);
    assert_eq!(fleet.checkin(&devs[0], "1.0")["action"], "none");
    let p = fleet.progress(&c);
    assert_eq!(p["total"]["rolled_back"], 1);
    assert_eq!(p["total"]["succeeded"], 0);

    // Abort: in-flight device b is told to stop.
    assert_eq!(
        fleet
            .admin("POST", &format!("/v1/admin/campaigns/{c}/abort"), "")
            .status,
        200
    );
    let r = fleet.status(&devs[1], &c, "downloading");
    assert_error(&r, 410, "campaign_aborted");
    assert!(r.json_body()["message"].as_str().unwrap().contains("stop"));
    assert_eq!(fleet.checkin(&devs[2], "1.0")["action"], "none");
    assert_error(
        &fleet.admin("POST", &format!("/v1/admin/campaigns/{c}/resume"), ""),
        409,
        "conflict",
    );

    let audit = fleet
        .admin("GET", "/v1/admin/audit?after=0&limit=100", "")
        .json_body();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "device.enrol",
            "release.publish",
            "campaign.create",
            "campaign.pause",
            "campaign.resume",
            "campaign.rollback",
            "campaign.abort"
        ]
    );
    let seqs: Vec<i64> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
}

#[test]
fn a_rejection_halts_the_campaign() {
    let fleet = Fleet::new();
    let devs = fleet.enrol(&["a", "b"], "cam-v2", &[]);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    fleet.checkin(&devs[0], "1.0");
    let r = fleet.call(
        Request::new("POST", "/v1/status")
            .header("authorization", &basic_header(&devs[0].id, &devs[0].secret))
            .body(
                json!({"campaign": c, "state": "rejected",
                         "error": {"phase": "verify", "code": "CHUNK_DIGEST", "detail": "chunk 3"}})
                .to_string(),
            ),
    );
    assert_eq!(r.status, 200);
    assert_eq!(fleet.progress(&c)["campaign"]["state"], "halted");
    assert_eq!(fleet.checkin(&devs[1], "1.0")["action"], "none");
}

#[test]
fn checkin_key_value_work_does_not_grow_with_the_fleet() {
    let measure = |fleet_size: usize| {
        let fleet = Fleet::new();
        fleet.enrol_many("d", fleet_size);
        fleet.publish("2.0", &["cam-v2"], 1);
        fleet.campaign(
            json!({"release": "2.0", "policy": {"stages": [{"percent": 50}, {"percent": 100}]}}),
        );
        let dev = Dev {
            id: "probe".into(),
            secret: fleet.enrol(&["probe"], "cam-v2", &[])[0].secret.clone(),
            hardware: "cam-v2".into(),
        };
        fleet.checkin(&dev, "1.0");
        let before = fleet.store.ops();
        fleet.checkin(&dev, "1.0");
        let after = fleet.store.ops();
        (
            after.reads - before.reads,
            after.keys_read - before.keys_read,
            after.writes - before.writes,
        )
    };
    let small = measure(10);
    let large = measure(5000);
    assert_eq!(
        small, large,
        "(reads, keys read, writes) per check-in must not depend on fleet size"
    );
    assert!(small.0 <= 4, "round trips per check-in: {small:?}");
    assert!(
        small.2 <= 1,
        "a quiet check-in writes only its last-seen record: {small:?}"
    );
}

#[test]
fn chunks_answer_ranges_and_conditional_requests() {
    let fleet = Fleet::new();
    let data = image("z", 1000);
    fleet.upload(std::slice::from_ref(&data));
    let digest = sluice_protocol::Digest::of(&data);
    let path = format!("/v1/chunks/{digest}");
    let r = fleet.call(Request::new("GET", &path).header("range", "bytes=-10"));
    assert_eq!(r.status, 206);
    assert_eq!(r.body, data[990..]);
    let r = fleet.call(Request::new("GET", &path).header("range", "bytes=5000-"));
    assert_error(&r, 416, "range_not_satisfiable");
    assert_eq!(r.header("content-range"), Some("bytes */1000"));
    let r =
        fleet.call(Request::new("GET", &path).header("if-none-match", &format!("\"{digest}\"")));
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = fleet.call(
        Request::new("GET", &path)
            .header("range", "bytes=0-9")
            .header("if-range", "\"stale\""),
    );
    assert_eq!(r.status, 200, "a stale If-Range gets the whole chunk");
    let r = fleet.call(Request::new("HEAD", &path));
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(r.header("content-length"), Some("1000"));
    assert_eq!(
        fleet
            .admin("HEAD", &format!("/v1/admin/chunks/{digest}"), "")
            .status,
        200
    );
}

#[test]
fn a_campaign_that_skips_a_device_does_not_hide_a_later_one() {
    let fleet = Fleet::new();
    let devs = fleet.enrol_many("d", 50);
    fleet.publish("2.0", &["cam-v2"], 1);
    fleet.publish("2.1", &["cam-v2"], 1);
    // The first campaign reaches only a tiny canary; the second targets everyone.
    fleet.campaign(
        json!({"release": "2.0", "policy": {"stages": [{"percent": 0.01, "soak_seconds": 99999}, {"percent": 100}]}}),
    );
    fleet.campaign(json!({"release": "2.1", "policy": all_at_once()}));
    let updates: Vec<Value> = devs.iter().map(|d| fleet.checkin(d, "1.0")).collect();
    let to_second = updates.iter().filter(|a| a["release"] == "2.1").count();
    assert!(
        to_second >= 49,
        "devices skipped by the first campaign get the second: {to_second}"
    );
}

#[test]
fn a_rollback_never_goes_below_the_security_version_a_device_committed() {
    let fleet = Fleet::new();
    let devs = fleet.enrol(&["a", "b"], "cam-v2", &[]);
    fleet.publish("2.0", &["cam-v2"], 5);
    let c = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    // Both were on 1.0; a was at security version 5 already, b at 1.
    assert_eq!(
        fleet.checkin_as(&devs[0], "1.0", 5).json_body()["action"],
        "update"
    );
    assert_eq!(
        fleet.checkin_as(&devs[1], "1.0", 1).json_body()["action"],
        "update"
    );
    fleet.finish(&devs[0], &c, "succeeded");
    fleet.finish(&devs[1], &c, "succeeded");
    assert_eq!(
        fleet
            .admin("POST", &format!("/v1/admin/campaigns/{c}/rollback"), "")
            .status,
        200
    );
    // a can go back to 1.0 (it was already at 5); b committed 5 and cannot.
    assert_eq!(
        fleet.checkin_as(&devs[0], "2.0", 5).json_body()["action"],
        "rollback"
    );
    assert_eq!(
        fleet.checkin_as(&devs[1], "2.0", 5).json_body()["action"],
        "none"
    );
}

#[test]
fn a_resumed_offer_respects_a_security_version_committed_since() {
    let fleet = Fleet::new();
    let devs = fleet.enrol(&["a"], "cam-v2", &[]);
    fleet.publish("2.0", &["cam-v2"], 3);
    fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    assert_eq!(
        fleet.checkin_as(&devs[0], "1.0", 1).json_body()["action"],
        "update"
    );
    // Re-flashed in the field to a higher security version before it installed 2.0.
    assert_eq!(
        fleet.checkin_as(&devs[0], "1.5", 4).json_body()["action"],
        "none"
    );
}

/// Completes every campaign at its first review.
struct CompleteAtOnce;

impl sluice_policy::Policy for CompleteAtOnce {
    fn validate(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn decide(
        &self,
        _: &sluice_policy::Device,
        _: &sluice_policy::Campaign,
        _: &sluice_policy::Stats,
        _: u64,
    ) -> sluice_policy::Decision {
        sluice_policy::Decision::Offer
    }
    fn review(
        &self,
        _: &sluice_policy::Campaign,
        stats: &sluice_policy::Stats,
        _: u64,
    ) -> sluice_policy::Verdict {
        if stats.total.succeeded > 0 {
            sluice_policy::Verdict::Complete
        } else {
            sluice_policy::Verdict::Proceed
        }
    }
}

#[test]
fn a_completed_campaign_can_still_be_rolled_back() {
    let fleet = Fleet::new();
    let devs = fleet.enrol(&["a"], "cam-v2", &[]);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0", "policy": all_at_once()}));
    let call = |request: Request| {
        let svc = Service {
            store: &fleet.store,
            policy: &CompleteAtOnce,
            config: &fleet.config,
            env: &fleet.env,
        };
        route(&svc, &request)
    };
    let auth = basic_header(&devs[0].id, &devs[0].secret);
    let checkin = || {
        call(
            Request::new("POST", "/v1/checkin")
                .header("authorization", &auth)
                .body(
                    json!({"hardware": "cam-v2", "version": "1.0", "security_version": 1})
                        .to_string(),
                ),
        )
    };
    assert_eq!(checkin().json_body()["action"], "update");
    for state in ["downloading", "succeeded"] {
        let r = call(
            Request::new("POST", "/v1/status")
                .header("authorization", &auth)
                .body(json!({"campaign": c, "state": state}).to_string()),
        );
        assert_eq!(r.status, 200);
    }
    assert_eq!(fleet.progress(&c)["campaign"]["state"], "completed");
    assert_eq!(
        fleet
            .admin("POST", &format!("/v1/admin/campaigns/{c}/rollback"), "")
            .status,
        200
    );
    let r = call(
        Request::new("POST", "/v1/checkin")
            .header("authorization", &auth)
            .body(
                json!({"hardware": "cam-v2", "version": "2.0", "security_version": 1}).to_string(),
            ),
    );
    assert_eq!(
        r.json_body()["action"],
        "rollback",
        "the rolled-back campaign is active again"
    );
}

/// `devices` devices and a campaign of the standard policy (everyone at once)
/// that rolls back when post-update health regresses.
fn health_campaign(devices: usize) -> (Fleet, Vec<Dev>, String) {
    let fleet = Fleet::new().with_policy(&sluice_policy_standard::Standard);
    let devs = fleet.enrol_many("d", devices);
    fleet.publish("2.0", &["cam-v2"], 1);
    let c = fleet.campaign(json!({"release": "2.0", "policy": {
        "stages": [{"percent": 100}],
        "post_update_health": {"min_devices": 20, "max_increase": 0.5, "min_events": 10,
                               "on_regression": "rollback"}}}));
    (fleet, devs, c)
}

#[test]
fn a_post_update_health_regression_rolls_the_campaign_back() {
    let (fleet, devs, c) = health_campaign(30);
    let crashing = json!({"reboots_before": 1, "reboots_after": 1,
                          "crashes_before": 1, "crashes_after": 5});
    // Health comes after success, never before.
    assert_eq!(fleet.checkin(&devs[0], "1.0")["action"], "update");
    assert_error(
        &fleet.health(&devs[0], &c, crashing.clone()),
        409,
        "conflict",
    );
    for d in &devs {
        fleet.checkin(d, "1.0");
        fleet.finish(d, &c, "succeeded");
    }
    // Bad reports change nothing.
    assert_error(
        &fleet.health(
            &devs[0],
            &c,
            json!({"reboots_before": 0, "reboots_after": 0,
            "crashes_before": 0, "crashes_after": 10_001}),
        ),
        400,
        "bad_request",
    );
    assert_error(&fleet.status(&devs[0], &c, "health"), 400, "bad_request");
    for d in &devs[..19] {
        let r = fleet.health(d, &c, crashing.clone());
        assert_eq!(r.status, 200, "{}", r.json_body());
    }
    assert_eq!(
        fleet.progress(&c)["campaign"]["state"],
        "running",
        "19 devices: too few"
    );
    // A repeated report counts once.
    assert_eq!(
        fleet.health(&devs[0], &c, crashing.clone()).json_body()["duplicate"],
        true
    );
    fleet.health(&devs[19], &c, crashing.clone());
    let p = fleet.progress(&c);
    assert_eq!(p["campaign"]["state"], "rolled_back", "{p}");
    assert!(
        p["campaign"]["reason"]
            .as_str()
            .unwrap()
            .contains("crashes rose from 20 to 100"),
        "{p}"
    );
    assert_eq!(fleet.checkin(&devs[5], "2.0")["action"], "rollback");
}

/// Offers to everyone and counts its reviews.
struct CountingReviews(AtomicU64);

impl sluice_policy::Policy for CountingReviews {
    fn validate(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn decide(
        &self,
        _: &sluice_policy::Device,
        _: &sluice_policy::Campaign,
        _: &sluice_policy::Stats,
        _: u64,
    ) -> sluice_policy::Decision {
        sluice_policy::Decision::Skip("not yet".into())
    }
    fn review(
        &self,
        _: &sluice_policy::Campaign,
        _: &sluice_policy::Stats,
        _: u64,
    ) -> sluice_policy::Verdict {
        self.0.fetch_add(1, Ordering::SeqCst);
        sluice_policy::Verdict::Proceed
    }
}

static REVIEWS: CountingReviews = CountingReviews(AtomicU64::new(0));

#[test]
fn check_ins_have_a_campaign_reviewed_at_most_once_per_interval() {
    let fleet = Fleet::new().with_policy(&REVIEWS);
    let devs = fleet.enrol_many("d", 20);
    fleet.publish("2.0", &["cam-v2"], 1);
    fleet.campaign(json!({"release": "2.0"}));
    for d in &devs {
        assert_eq!(fleet.checkin(d, "1.0")["action"], "none");
    }
    assert_eq!(
        REVIEWS.0.load(Ordering::SeqCst),
        1,
        "20 check-ins, one review"
    );
    fleet.advance(sluice_service::device_api::checkin::REVIEW_INTERVAL_SECONDS);
    fleet.checkin(&devs[0], "1.0");
    fleet.checkin(&devs[1], "1.0");
    assert_eq!(
        REVIEWS.0.load(Ordering::SeqCst),
        2,
        "and one more after the interval"
    );
}

#[test]
fn one_device_cannot_roll_a_campaign_back_or_pick_its_own_ring() {
    let (fleet, devs, c) = health_campaign(20);
    for d in &devs {
        fleet.checkin(d, "1.0");
        fleet.finish(d, &c, "succeeded");
    }
    let steady = json!({"reboots_before": 0, "reboots_after": 0,
                        "crashes_before": 1, "crashes_after": 1});
    for d in &devs[1..] {
        assert_eq!(fleet.health(d, &c, steady.clone()).status, 200);
    }
    let flood = json!({"reboots_before": 0, "reboots_after": 0,
                       "crashes_before": 0, "crashes_after": 10_000});
    assert_eq!(fleet.health(&devs[0], &c, flood).status, 200);
    let p = fleet.progress(&c);
    assert_eq!(
        p["campaign"]["state"], "running",
        "one device weighs 20 at most: {p}"
    );

    // key:value tags steer policies (rings, time zones): a device cannot report them.
    let body = json!({"hardware": "cam-v2", "version": "2.0", "security_version": 1,
                      "tags": ["ring:lab"]});
    let r = fleet.call(
        Request::new("POST", "/v1/checkin")
            .header("authorization", &basic_header(&devs[1].id, &devs[1].secret))
            .body(body.to_string()),
    );
    assert_error(&r, 400, "bad_request");
}

#[path = "service/change.rs"]
mod change;
#[path = "service/fleet.rs"]
mod fleet;
#[path = "service/layers.rs"]
mod layers;

#[path = "service/notify.rs"]
mod notify;

#[path = "service/recount.rs"]
mod recount;
