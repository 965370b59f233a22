//! The access matrices, against a real `sluice up`: every route `spin.toml`
//! declares, asked by every kind of caller (the table is checked against the
//! manifest's route list, so a route added without an access rule fails
//! here); and every admin route of [`sluice_service::admin::ROUTES`] (where
//! each declares its scope) asked with a token of every role.

use serde_json::{Value, json};

use crate::support::app::{
    add_operator, admin, admin_with, basic, create_campaign, enrol, publish, release, trust,
};
use crate::support::cli::scratch;
use crate::support::host::{Answer, Host, HostConfig, http, root};
use sluice_service::admin::ROUTES;
use sluice_service::ops::access::{Role, Scope};

/// Who asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    /// No credentials at all.
    Nobody,
    /// Credentials that do not parse.
    Malformed,
    /// A valid device, asking about another device.
    OtherDevice,
    /// A device whose enrolment was revoked, asking about itself.
    Revoked,
    /// A valid device, asking about itself.
    Device,
    /// The operator's admin token.
    Admin,
}

const CALLERS: [Caller; 6] = [
    Caller::Nobody,
    Caller::Malformed,
    Caller::OtherDevice,
    Caller::Revoked,
    Caller::Device,
    Caller::Admin,
];

/// How a route's callers authenticate.
#[derive(Clone, Copy, Debug)]
enum Scheme {
    /// HTTP Basic `device:secret` (the native device protocol).
    Basic,
    /// `Authorization: TargetToken SECRET` (hawkBit DDI).
    TargetToken,
    /// `Authorization: Bearer TOKEN` (the admin API).
    Bearer,
}

/// One request through one route, and the status each caller must get, in
/// the order of [`CALLERS`].
struct Probe {
    /// The route of `spin.toml` it goes through.
    route: &'static str,
    method: &'static str,
    /// `{device}` is the device the request is about: the caller itself, or
    /// (for [`Caller::OtherDevice`]) the valid device.
    path: String,
    body: Option<Value>,
    scheme: Scheme,
    expect: [u16; 6],
}

struct Fleet {
    host: Host,
    token: String,
    /// (id, secret) of the valid device, another valid one, and a revoked one.
    device: (String, String),
    other: (String, String),
    revoked: (String, String),
}

impl Fleet {
    fn header(&self, scheme: Scheme, caller: Caller) -> Option<String> {
        let secret_of = |d: &(String, String)| d.1.clone();
        let basic_of = |d: &(String, String)| basic(&d.0, &d.1);
        match (caller, scheme) {
            (Caller::Nobody, _) => None,
            (Caller::Admin, _) => Some(format!("Bearer {}", self.token)),
            (Caller::Malformed, Scheme::Basic) => Some("Basic !!not-base64!!".into()),
            (Caller::Malformed, Scheme::TargetToken) => Some("TargetToken".into()),
            (Caller::Malformed, Scheme::Bearer) => Some("Bearer".into()),
            (Caller::OtherDevice, Scheme::TargetToken) => {
                Some(format!("TargetToken {}", secret_of(&self.other)))
            }
            (Caller::Revoked, Scheme::TargetToken) => {
                Some(format!("TargetToken {}", secret_of(&self.revoked)))
            }
            (Caller::Device, Scheme::TargetToken) => {
                Some(format!("TargetToken {}", secret_of(&self.device)))
            }
            (Caller::OtherDevice, _) => Some(basic_of(&self.other)),
            (Caller::Revoked, _) => Some(basic_of(&self.revoked)),
            (Caller::Device, _) => Some(basic_of(&self.device)),
        }
    }

    fn ask(&self, probe: &Probe, caller: Caller) -> Answer {
        let subject = match caller {
            Caller::Revoked => &self.revoked.0,
            _ => &self.device.0,
        };
        let path = probe.path.replace("{device}", subject);
        let header = self.header(probe.scheme, caller);
        let headers: Vec<(&str, &str)> = header
            .as_deref()
            .map(|h| vec![("authorization", h)])
            .unwrap_or_default();
        let body = probe.body.as_ref().map(|b| b.to_string().into_bytes());
        http(
            probe.method,
            &format!("{}{path}", self.host.url),
            &headers,
            body.as_deref(),
        )
    }
}

/// The routes `spin.toml` declares.
fn manifest_routes() -> Vec<String> {
    let manifest: toml::Table = std::fs::read_to_string(root().join("spin.toml"))
        .unwrap()
        .parse()
        .unwrap();
    manifest["trigger"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["route"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_route_answers_every_kind_of_caller_as_its_access_rule_says() {
    let (_guard, dir) = scratch();
    release(&dir);
    let host =
        Host::start(HostConfig::sluice(&dir.join("state")).variable("trust_root", &trust(&dir)));
    publish(&dir, &host);
    let campaign = create_campaign(&dir, &host, r#"{"stages":[{"percent":100}]}"#);
    let mut devices = enrol(&host, &["cam-1".into(), "cam-2".into(), "cam-3".into()]).into_iter();
    let fleet = Fleet {
        token: host.token(),
        device: devices.next().unwrap(),
        other: devices.next().unwrap(),
        revoked: devices.next().unwrap(),
        host,
    };
    let revoke = admin(
        &fleet.host,
        "POST",
        &format!("/v1/admin/devices/{}/revoke", fleet.revoked.0),
        Some(json!({"reason": "stolen from the lab"})),
    );
    assert_eq!(revoke.status, 200, "{}", revoke.text());
    let chunk = std::fs::read_dir(dir.join("rel/chunks"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();

    use Scheme::*;
    let checkin = json!({"hardware": "cam-v2", "version": "1.0.0", "security_version": 1});
    let report = json!({"campaign": campaign, "state": "downloading"});
    //                       Nobody Malformed Other Revoked Device Admin
    let probes = [
        Probe {
            route: "/v1/checkin",
            method: "POST",
            path: "/v1/checkin".into(),
            body: Some(checkin),
            scheme: Basic,
            // Another device's credentials make the caller that device: it
            // is answered about itself, never about the device it names.
            expect: [401, 401, 200, 401, 200, 401],
        },
        Probe {
            route: "/v1/status",
            method: "POST",
            path: "/v1/status".into(),
            body: Some(report),
            scheme: Basic,
            expect: [401, 401, 200, 401, 200, 401],
        },
        Probe {
            route: "/v1/releases/...",
            method: "GET",
            path: "/v1/releases/1.2.0/manifest".into(),
            body: None,
            scheme: Basic,
            expect: [401, 401, 200, 401, 200, 401],
        },
        Probe {
            // Chunks are public: content-addressed and immutable, cached by
            // any CDN; a device verifies each against its signed manifest.
            route: "/v1/chunks/...",
            method: "GET",
            path: format!("/v1/chunks/{chunk}"),
            body: None,
            scheme: Basic,
            expect: [200, 200, 200, 200, 200, 200],
        },
        Probe {
            route: "/v1/admin/...",
            method: "GET",
            path: "/v1/admin/releases".into(),
            body: None,
            scheme: Bearer,
            expect: [401, 401, 401, 401, 401, 200],
        },
        Probe {
            route: "/v1/admin/...",
            method: "GET",
            path: "/v1/admin/devices/{device}".into(),
            body: None,
            scheme: Basic,
            expect: [401, 401, 401, 401, 401, 200],
        },
        Probe {
            // The dashboard's page and assets are public; what the page
            // shows comes from the admin API, with the token typed into it.
            route: "/...",
            method: "GET",
            path: "/".into(),
            body: None,
            scheme: Bearer,
            expect: [200, 200, 200, 200, 200, 200],
        },
        Probe {
            route: "/metrics",
            method: "GET",
            path: "/metrics".into(),
            body: None,
            scheme: Bearer,
            expect: [401, 401, 401, 401, 401, 200],
        },
        Probe {
            // The API's description is public: the same for every server of
            // this version, and nothing in it is a secret.
            route: "/v1/openapi.json",
            method: "GET",
            path: "/v1/openapi.json".into(),
            body: None,
            scheme: Bearer,
            expect: [200, 200, 200, 200, 200, 200],
        },
        Probe {
            route: "/:tenant/controller/v1/...",
            method: "GET",
            path: "/DEFAULT/controller/v1/{device}".into(),
            body: None,
            scheme: TargetToken,
            expect: [401, 401, 401, 401, 200, 401],
        },
    ];

    let covered: Vec<&str> = probes.iter().map(|p| p.route).collect();
    let routes = manifest_routes();
    let unruled: Vec<&String> = routes
        .iter()
        .filter(|r| !covered.contains(&r.as_str()))
        .collect();
    assert!(
        unruled.is_empty(),
        "routes in spin.toml with no access rule in this test: {unruled:?}"
    );
    for route in &covered {
        assert!(
            routes.iter().any(|r| r == route),
            "{route} is no longer in spin.toml"
        );
    }

    let mut wrong = Vec::new();
    for probe in &probes {
        for (caller, expected) in CALLERS.iter().zip(probe.expect) {
            let answer = fleet.ask(probe, *caller);
            if answer.status != expected {
                wrong.push(format!(
                    "{} {} as {caller:?}: {} (expected {expected}): {}",
                    probe.method,
                    probe.path,
                    answer.status,
                    answer.text().chars().take(200).collect::<String>()
                ));
            } else if expected == 401 {
                // A refusal says why, in the API's error shape (or is an
                // empty DDI 401).
                let text = answer.text();
                assert!(
                    text.is_empty() || answer.json()["error"].is_string(),
                    "{text}"
                );
            }
        }
    }
    assert!(wrong.is_empty(), "access matrix:\n{}", wrong.join("\n"));

    // Every admin route refuses every caller but an operator's or the owner's
    // token, before it reads its body: nothing changes.
    let audit_before = admin(&fleet.host, "GET", "/v1/admin/audit", None).json()["head"].clone();
    for route in ROUTES {
        let path = concrete(route.path);
        let probe = Probe {
            route: "/v1/admin/...",
            method: route.method,
            path: path.clone(),
            body: Some(json!({"devices": [{"id": "intruder", "hardware": "cam-v2"}]})),
            scheme: Basic,
            expect: [401; 6],
        };
        for caller in CALLERS.iter().filter(|c| **c != Caller::Admin) {
            let answer = fleet.ask(&probe, *caller);
            assert_eq!(
                answer.status,
                401,
                "{} {path} as {caller:?}: {}",
                route.method,
                answer.text()
            );
        }
    }
    let audit_after = admin(&fleet.host, "GET", "/v1/admin/audit", None).json()["head"].clone();
    assert_eq!(
        audit_before, audit_after,
        "a refused request changed nothing"
    );
    let device = admin(&fleet.host, "GET", "/v1/admin/devices/cam-1", None).json();
    assert_eq!(device["revoked"], Value::Null, "{device}");
    fleet.host.stop();
}

/// `path` with each `{…}` segment replaced by a name nothing has.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "none-such"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_admin_route_answers_a_token_of_every_role_as_its_scope_says() {
    let (_guard, dir) = scratch();
    release(&dir);
    let host =
        Host::start(HostConfig::sluice(&dir.join("state")).variable("trust_root", &trust(&dir)));
    // One operator per role, and the owner token (every scope).
    let mut tokens: Vec<(String, Vec<Scope>, String)> = Role::ALL
        .iter()
        .map(|role| {
            let name = format!("has-{}", role.name());
            let token = add_operator(&host, &name, &[role.name()]);
            (name, role.scopes().to_vec(), token)
        })
        .collect();
    tokens.push(("owner".into(), Scope::ALL.to_vec(), host.token()));
    let audit = |host: &Host| admin(host, "GET", "/v1/admin/audit", None).json()["head"].clone();
    let before = audit(&host);

    // Each route, asked about things that do not exist with a body no route
    // takes: an allowed token reaches the handler (which refuses the request
    // as bad or unknown, or answers a read), a refused one gets 403 naming
    // the scope, before anything is read or written.
    let mut wrong = Vec::new();
    let mut asked = 0;
    for route in ROUTES {
        let path = concrete(route.path);
        for (name, scopes, token) in &tokens {
            let allowed = route.scope.is_none_or(|s| scopes.contains(&s));
            // A field no request takes: every body is refused as it is
            // parsed, so no allowed request does any work.
            let body = (route.method != "GET" && route.method != "HEAD")
                .then(|| json!({"none-such": true}));
            let answer = admin_with(&host, token, route.method, &path, body);
            asked += 1;
            let refused = answer.status == 403 || answer.status == 401;
            let says_why = !refused
                || route.method == "HEAD"
                || route.scope.is_some_and(|s| {
                    serde_json::from_slice::<Value>(&answer.body)
                        .ok()
                        .and_then(|v| v["message"].as_str().map(str::to_owned))
                        .is_some_and(|m| m.contains(s.name()))
                });
            if allowed == refused || (refused && !says_why) {
                wrong.push(format!(
                    "{} {path} as {name}: {} (allowed: {allowed}): {}",
                    route.method,
                    answer.status,
                    answer.text().chars().take(160).collect::<String>()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "route x role matrix, {} wrong of {asked}:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(asked, ROUTES.len() * (Role::ALL.len() + 1));
    assert_eq!(before, audit(&host), "the matrix changed nothing");

    // Every route is reachable: none is shadowed by an earlier one.
    for route in ROUTES {
        let (found, _) = sluice_service::admin::find(route.method, &concrete(route.path))
            .unwrap_or_else(|_| panic!("{} {} is not found", route.method, route.path));
        assert_eq!(
            (found.method, found.path),
            (route.method, route.path),
            "shadowed"
        );
    }
    host.stop();
}
