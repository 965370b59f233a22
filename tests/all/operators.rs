//! Operators with their own tokens, against real hosts: the CLI that issues
//! them, what each role may do, revocation across hosts sharing one Redis,
//! expiry, and that the audit log names the token's holder whatever the
//! request claims.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::app::{
    Redis, add_operator_at, admin, admin_with, operate_with, publish_args, release, token_file,
    trust,
};
use crate::support::cli::{scratch, sluice};
use crate::support::host::{Host, HostConfig, http};

/// The audit entries of `action`, newest last.
fn audited(host: &Host, action: &str) -> Vec<Value> {
    admin(host, "GET", "/v1/admin/audit?limit=1000", None).json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

#[test]
fn each_role_does_what_it_may_and_the_audit_names_the_token_never_a_header() {
    let (_guard, dir) = scratch();
    release(&dir);
    let host =
        Host::start(HostConfig::sluice(&dir.join("state")).variable("trust_root", &trust(&dir)));
    let owner = host.token_file();

    // The owner adds the first operators; each token is printed once.
    let add = |name: &str, roles: &[&str]| -> Value {
        let mut args = vec!["operator", "add", name, "--json"];
        for role in roles {
            args.extend(["--role", role]);
        }
        let run = operate_with(&dir, &host, &owner, &args).success();
        serde_json::from_str(run.last_line()).unwrap()
    };
    let vera = add("vera", &["viewer"]);
    let token = vera["token"].as_str().unwrap();
    assert!(token.starts_with("sluice_op_"), "{vera}");
    assert_eq!(vera["operator"]["roles"], json!(["viewer"]));
    assert_eq!(vera["operator"]["state"], "active");
    let vera = token_file(&dir, "vera", token);
    let prometheus = token_file(
        &dir,
        "prom",
        add("prometheus", &["monitor"])["token"].as_str().unwrap(),
    );
    let ci = token_file(
        &dir,
        "ci",
        add("ci-publisher", &["release-manager"])["token"]
            .as_str()
            .unwrap(),
    );
    let alice = token_file(
        &dir,
        "alice",
        add("alice", &["operator"])["token"].as_str().unwrap(),
    );
    let text = operate_with(
        &dir,
        &host,
        &owner,
        &["operator", "add", "amy", "--role", "approver"],
    )
    .success();
    assert!(text.stdout.contains("shown this once"), "{}", text.stdout);
    assert!(
        text.last_line().starts_with("sluice_op_"),
        "{}",
        text.stdout
    );

    let whoami = operate_with(&dir, &host, &vera, &["operator", "whoami"]).success();
    assert!(
        whoami.stdout.starts_with("vera (viewer), token expires "),
        "{}",
        whoami.stdout
    );
    let listed = operate_with(&dir, &host, &owner, &["operator", "list"]).success();
    for name in ["vera", "prometheus", "ci-publisher", "alice", "amy"] {
        assert!(
            listed.stdout.contains(&format!("operator {name} (")),
            "{}",
            listed.stdout
        );
    }
    // Only the owner (operator:manage) manages operators.
    operate_with(&dir, &host, &alice, &["operator", "list"]).failure(&["403", "operator:manage"]);

    // A release manager publishes (its name in the audit log) but approves nothing.
    let mut publish: Vec<String> = publish_args(&host);
    let at = publish.iter().position(|a| a == "--token-file").unwrap();
    publish[at + 1] = ci.clone();
    let publish: Vec<&str> = publish.iter().map(String::as_str).collect();
    sluice(&dir, &publish).success();
    assert_eq!(
        audited(&host, "release.publish")[0]["actor"],
        "ci-publisher"
    );
    let read = |file: &str| std::fs::read_to_string(file).unwrap();
    let answer = admin_with(
        &host,
        &read(&ci),
        "POST",
        "/v1/admin/campaigns/c1/approve",
        None,
    );
    assert_eq!(answer.status, 403, "{}", answer.text());

    // A viewer reads campaigns and may not pause one.
    let created = operate_with(
        &dir,
        &host,
        &alice,
        &[
            "campaign",
            "create",
            "--release",
            "1.2.0",
            "--policy",
            r#"{"stages":[{"percent":100}]}"#,
        ],
    )
    .success();
    let campaign = created.last_line().to_owned();
    assert_eq!(audited(&host, "campaign.create")[0]["actor"], "alice");
    operate_with(&dir, &host, &vera, &["campaign", "status", &campaign]).success();
    operate_with(&dir, &host, &vera, &["campaign", "pause", &campaign]).failure(&[
        "403",
        "campaign:operate",
        "vera (viewer)",
    ]);

    // A monitor reads /metrics and nothing else.
    let answer = admin_with(&host, &read(&prometheus), "GET", "/metrics", None);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.text().contains("sluice_checkins_total"));
    for path in [
        "/v1/admin/campaigns",
        "/v1/admin/devices",
        "/v1/admin/audit",
    ] {
        let answer = admin_with(&host, &read(&prometheus), "GET", path, None);
        assert_eq!(answer.status, 403, "{path}: {}", answer.text());
    }

    // A header naming someone else changes nothing in the log.
    let spoofed = http(
        "POST",
        &format!("{}/v1/admin/campaigns/{campaign}/pause", host.url),
        &[
            ("authorization", &format!("Bearer {}", read(&alice))),
            ("x-sluice-operator", "the-ceo"),
        ],
        None,
    );
    assert_eq!(spoofed.status, 200, "{}", spoofed.text());
    let pauses = audited(&host, "campaign.pause");
    assert_eq!(pauses.len(), 1);
    assert_eq!(pauses[0]["actor"], "alice");
    let log = admin(&host, "GET", "/v1/admin/audit?limit=1000", None).text();
    assert!(!log.contains("the-ceo"), "{log}");

    // Rotation: the old token stops at once, the new one works.
    let rotated = operate_with(
        &dir,
        &host,
        &owner,
        &["operator", "rotate", "alice", "--json"],
    )
    .success();
    let rotated: Value = serde_json::from_str(rotated.last_line()).unwrap();
    let old = read(&alice);
    let refused = admin_with(&host, &old, "GET", "/v1/admin/campaigns", None);
    assert_eq!(refused.status, 401);
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("rotated: replaced by token"),
        "{}",
        refused.text()
    );
    let new = rotated["token"].as_str().unwrap();
    assert_eq!(
        admin_with(&host, new, "GET", "/v1/admin/campaigns", None).status,
        200
    );

    // Expiry: a token issued for two seconds is refused after them, with its date.
    let brief = operate_with(
        &dir,
        &host,
        &owner,
        &[
            "operator",
            "add",
            "temp",
            "--role",
            "viewer",
            "--expires",
            "2s",
            "--json",
        ],
    )
    .success();
    let brief: Value = serde_json::from_str(brief.last_line()).unwrap();
    let temp = brief["token"].as_str().unwrap();
    assert_eq!(
        admin_with(&host, temp, "GET", "/v1/admin/campaigns", None).status,
        200
    );
    std::thread::sleep(Duration::from_millis(3100));
    let expired = admin_with(&host, temp, "GET", "/v1/admin/campaigns", None);
    assert_eq!(expired.status, 401);
    let message = expired.json()["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("token expired on 20"), "{message}");
    let shown =
        operate_with(&dir, &host, &owner, &["operator", "show", "temp", "--json"]).success();
    let shown: Value = serde_json::from_str(shown.last_line()).unwrap();
    assert_eq!(shown["state"], "expired");
    assert!(shown.get("secret_hash").is_none(), "{shown}");

    // Every operator change is in the log, by the owner; no token is.
    let adds = audited(&host, "operator.add");
    assert_eq!(adds.len(), 6);
    assert!(adds.iter().all(|e| e["actor"] == "owner"));
    assert_eq!(audited(&host, "operator.rotate")[0]["target"], "alice");
    let log = admin(&host, "GET", "/v1/admin/audit?limit=1000", None).text();
    let secret = |token: &str| token.rsplit('_').next().unwrap().to_owned();
    assert!(!log.contains(&secret(new)) && !log.contains(&secret(&old)));
    host.stop();
}

#[test]
fn a_token_revoked_on_one_host_is_refused_at_once_by_another_sharing_its_redis() {
    let (_guard, dir) = scratch();
    release(&dir);
    let redis = Redis::start(&dir);
    let (a, b) = redis.two_hosts(&dir, "shared-owner-token");
    let token = add_operator_at(&a.url, "shared-owner-token", "bob", &["operator"]);
    let ask = |host: &Host| admin_with(host, &token, "GET", "/v1/admin/campaigns", None);
    assert_eq!(ask(&b).status, 200, "{}", ask(&b).text());

    let revoked = http(
        "POST",
        &format!("{}/v1/admin/operators/bob/revoke", a.url),
        &[("authorization", "Bearer shared-owner-token")],
        Some(json!({"reason": "laptop stolen"}).to_string().as_bytes()),
    );
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_eq!(revoked.json()["state"], "revoked");
    for host in [&b, &a] {
        let refused = ask(host);
        assert_eq!(refused.status, 401, "{}", refused.text());
        let message = refused.json()["message"].as_str().unwrap().to_owned();
        assert!(
            message.starts_with("token revoked by owner on ")
                && message.ends_with(": laptop stolen"),
            "{message}"
        );
    }
    a.stop();
    b.stop();
}

#[test]
fn the_readme_tables_of_roles_and_scopes_are_the_servers() {
    use sluice_service::ops::access::{Role, Scope};
    let readme = std::fs::read_to_string(crate::support::host::root().join("README.md")).unwrap();
    let row = |name: &str| -> String {
        readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("the README has no table row for `{name}`"))
            .to_owned()
    };
    for role in Role::ALL {
        let cells: Vec<String> = row(role.name())
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect();
        let listed: Vec<&str> = cells[2]
            .split(',')
            .map(|s| s.trim().trim_matches('`'))
            .collect();
        let granted: Vec<&str> = role.scopes().iter().map(|s| s.name()).collect();
        if role == Role::Owner {
            assert!(cells[2].starts_with("every scope"), "{}", cells[2]);
            assert_eq!(granted.len(), Scope::ALL.len());
        } else {
            assert_eq!(listed, granted, "the README's row for {role}");
        }
    }
    for scope in Scope::ALL {
        row(scope.name());
    }
}
