//! A small fleet in memory, prepared once: keys, a published release, a running
//! campaign that has offered the device `cam-1` an update, and a freeze. Each
//! service target starts from a fresh copy of it, so one input cannot change
//! what the next one sees.

use std::sync::OnceLock;

use serde_json::{Value, json};
use sluice_protocol::{
    Envelope, KeyStatement, Limits, ManifestBuilder, ReleaseInfo, SecretKey, SignedManifest,
    TrustRoot,
};
use sluice_service::kernel::credentials::basic_header;
use sluice_service::kernel::memory_store::{MemoryStore, Snapshot};
use sluice_service::{Config, Environment, Request, Response, Service, route};

/// The fixed time every target runs at.
pub const NOW: u64 = 1_800_000_000;
const TOKEN: &str = "fuzz-operator-token";

/// A fixed clock, and "random" bytes that differ at each draw (so two tokens
/// get two ids) yet repeat from one run to the next: each draw is its number,
/// counted from `first`.
struct FixedEnvironment {
    draws: std::sync::atomic::AtomicU64,
}

impl FixedEnvironment {
    fn counting_from(first: u64) -> FixedEnvironment {
        FixedEnvironment {
            draws: std::sync::atomic::AtomicU64::new(first),
        }
    }
}

impl Environment for FixedEnvironment {
    fn now(&self) -> u64 {
        NOW
    }
    fn fill_random(&self, buf: &mut [u8]) {
        let draw = self
            .draws
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = draw[i % 8] ^ 7;
        }
    }
}

/// The prepared fleet.
pub struct World {
    pub trust: TrustRoot,
    pub statement: Envelope,
    /// A manifest the fixture's keys signed (a seed for `manifest`).
    pub manifest: Vec<u8>,
    config: Config,
    snapshot: Snapshot,
    device: (String, String),
    /// An approver's operator token: the second pair of eyes on the owner's
    /// campaign (the owner, its creator, may not approve it).
    approver: String,
    campaign: String,
    /// The device's DDI action path, `/DEFAULT/controller/v1/cam-1/deploymentBase/N`.
    deployment: String,
}

impl World {
    /// The one world, prepared on first use.
    pub fn get() -> &'static World {
        static WORLD: OnceLock<World> = OnceLock::new();
        WORLD.get_or_init(World::prepare)
    }

    fn prepare() -> World {
        let root = SecretKey::from_seed([1; 32]);
        let signer = SecretKey::from_seed([2; 32]);
        let trust = TrustRoot::new(vec![root.public_key()], 1).expect("one root key");
        let statement = KeyStatement::new(1, NOW - 100, vec![signer.public_key()], vec![])
            .expect("a valid statement")
            .sign(&[&root]);
        let config = Config {
            admin_token: Some(TOKEN.into()),
            trust_root: Some(trust.clone()),
            poll_seconds: 600,
            ..Config::default()
        };
        let store = MemoryStore::new();
        let env = FixedEnvironment::counting_from(0);
        let call = |request: Request| -> Response {
            let svc = Service {
                store: &store,
                policy: &sluice_policy_staged::Staged,
                config: &config,
                env: &env,
            };
            route(&svc, &request)
        };
        let admin = |method: &str, path: &str, body: Vec<u8>| -> Response {
            let answer = call(
                Request::new(method, path)
                    .header("authorization", &format!("Bearer {TOKEN}"))
                    .body(body),
            );
            assert!(answer.status < 300, "{method} {path}: {}", answer.status);
            answer
        };

        // A release of three chunks for cam-v2.
        let image: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let mut builder = ManifestBuilder::new(Limits::default());
        for chunk in image.chunks(1000) {
            builder.add_chunk(chunk).expect("small chunks");
            let digest = sluice_protocol::Digest::of(chunk);
            admin("PUT", &format!("/v1/admin/chunks/{digest}"), chunk.to_vec());
        }
        let info = ReleaseInfo {
            version: "2.0".into(),
            hardware: vec!["cam-v2".into()],
            security_version: 1,
            created_at: NOW - 10,
            expires_at: NOW + 10_000_000,
        };
        let manifest = builder.finish(info, signer.key_id()).expect("a manifest");
        let manifest = SignedManifest::sign(&manifest, &signer, statement.clone())
            .expect("signed")
            .to_bytes();
        admin("POST", "/v1/admin/releases", manifest.clone());

        let enrolled = admin(
            "POST",
            "/v1/admin/devices",
            json!({"devices": [{"id": "cam-1", "hardware": "cam-v2", "tags": ["site:lab"]}]})
                .to_string()
                .into_bytes(),
        );
        let secret = enrolled.json_body()["devices"][0]["secret"]
            .as_str()
            .expect("a secret")
            .to_owned();
        let campaign = admin(
            "POST",
            "/v1/admin/campaigns",
            json!({"release": "2.0", "policy": {"stages": [{"percent": 100}]}})
                .to_string()
                .into_bytes(),
        )
        .json_body()["id"]
            .as_str()
            .expect("a campaign id")
            .to_owned();
        admin(
            "POST",
            "/v1/admin/freezes",
            json!({"reason": "all-hands", "start": NOW + 86_400, "end": NOW + 90_000})
                .to_string()
                .into_bytes(),
        );
        let approver = admin(
            "POST",
            "/v1/admin/operators",
            json!({"name": "amy", "roles": ["approver"]})
                .to_string()
                .into_bytes(),
        )
        .json_body()["token"]
            .as_str()
            .expect("a token")
            .to_owned();
        // The device is offered the update, natively and over DDI.
        let device = ("cam-1".to_owned(), secret);
        let offer = call(
            Request::new("POST", "/v1/checkin")
                .header("authorization", &basic_header(&device.0, &device.1))
                .body(r#"{"hardware":"cam-v2","version":"1.0","security_version":1}"#),
        );
        assert_eq!(offer.json_body()["action"], "update");
        let poll = call(
            Request::new("GET", "/DEFAULT/controller/v1/cam-1")
                .header("authorization", &format!("TargetToken {}", device.1)),
        );
        let href = poll.json_body()["_links"]["deploymentBase"]["href"]
            .as_str()
            .map(str::to_owned)
            .expect("a deployment");
        let deployment = href
            .find("/DEFAULT/")
            .map(|at| href[at..].split('?').next().unwrap_or_default().to_owned())
            .expect("an absolute DDI link");
        World {
            trust,
            statement,
            manifest,
            snapshot: store.snapshot(),
            config,
            device,
            approver,
            campaign,
            deployment,
        }
    }

    /// Serves `request` on a fresh copy of the world; a 5xx is a bug.
    fn serve(&self, request: Request) -> Response {
        let store = MemoryStore::from_snapshot(&self.snapshot);
        // Draws past the ones the preparation made, the same for every input.
        let env = FixedEnvironment::counting_from(1 << 32);
        let svc = Service {
            store: &store,
            policy: &sluice_policy_staged::Staged,
            config: &self.config,
            env: &env,
        };
        let description = format!("{} {}", request.method, request.path);
        let answer = route(&svc, &request);
        assert!(
            answer.status < 500,
            "{description} answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        if answer.status >= 400 {
            // Every bad input gets a clear error and changes nothing.
            assert_eq!(
                store.snapshot(),
                self.snapshot,
                "{description} refused but wrote"
            );
            if !answer.body.is_empty() {
                let error: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
                assert!(error["error"].is_string(), "{description}: error shape");
            }
        }
        answer
    }

    fn as_device(&self, method: &str, path: &str, body: &[u8]) -> Request {
        Request::new(method, path)
            .header(
                "authorization",
                &basic_header(&self.device.0, &self.device.1),
            )
            .body(body.to_vec())
    }

    /// A check-in body from the offered device.
    pub fn checkin(&self, data: &[u8]) {
        self.serve(self.as_device("POST", "/v1/checkin", data));
    }

    /// A status report body from the offered device.
    pub fn status(&self, data: &[u8]) {
        self.serve(self.as_device("POST", "/v1/status", data));
    }

    /// An operator's request body; the first byte picks the operation.
    pub fn admin(&self, data: &[u8]) {
        let Some((which, body)) = data.split_first() else {
            return;
        };
        let campaign = &self.campaign;
        let (method, path) = match which % 14 {
            0 => ("POST", "/v1/admin/campaigns".to_owned()),
            1 => ("POST", "/v1/admin/freezes".to_owned()),
            2 => ("POST", "/v1/admin/devices".to_owned()),
            3 => ("PUT", "/v1/admin/key-statement".to_owned()),
            4 => ("POST", "/v1/admin/releases".to_owned()),
            5 => ("POST", format!("/v1/admin/campaigns/{campaign}/approve")),
            6 => (
                "POST",
                format!("/v1/admin/campaigns/{campaign}/override-freeze"),
            ),
            7 => ("POST", "/v1/admin/devices/cam-1/revoke".to_owned()),
            8 => ("POST", format!("/v1/admin/campaigns/{campaign}/pause")),
            9 => (
                "GET",
                format!("/v1/admin/audit?{}", String::from_utf8_lossy(body)),
            ),
            10 => ("POST", "/v1/admin/operators".to_owned()),
            11 => (
                "POST",
                format!("/v1/admin/campaigns/{campaign}/confirm-override"),
            ),
            12 => ("PUT", "/v1/admin/four-eyes".to_owned()),
            _ => ("POST", "/v1/admin/freezes/f1/confirm-lift".to_owned()),
        };
        // Approvals and confirmations come from the second operator.
        let token = if matches!(which % 14, 5 | 6 | 11 | 13) {
            self.approver.as_str()
        } else {
            TOKEN
        };
        self.serve(
            Request::new(method, &path)
                .header("authorization", &format!("Bearer {token}"))
                .body(body.to_vec()),
        );
    }

    /// A DDI client's body; the first byte picks feedback, configData or a
    /// cancellation's feedback.
    pub fn ddi(&self, data: &[u8]) {
        let Some((which, body)) = data.split_first() else {
            return;
        };
        let (method, path) = match which % 3 {
            0 => ("POST", format!("{}/feedback", self.deployment)),
            1 => ("PUT", "/DEFAULT/controller/v1/cam-1/configData".to_owned()),
            _ => (
                "POST",
                "/DEFAULT/controller/v1/cam-1/cancelAction/1/feedback".to_owned(),
            ),
        };
        self.serve(
            Request::new(method, &path)
                .header("authorization", &format!("TargetToken {}", self.device.1))
                .header("content-type", "application/json")
                .body(body.to_vec()),
        );
    }
}
