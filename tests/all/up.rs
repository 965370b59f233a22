//! `sluice up` end to end: real hosts on loopback, temporary state, HTTP.

use crate::support::app::{
    Redis, admin, app_with_policy, basic, checkin, create_campaign, enrol, enrol_at, host_for,
    operate, publish, release, status, trust,
};
use crate::support::cli::{scratch, sluice};
use crate::support::host::{Host, HostConfig, http};

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
