//! `sluice conformance`: the key flows of a deployment, checked against any
//! running Sluice, so that one run proves `sluice up` in CI and a Spin host
//! (with SQLite or Redis) by hand.
//!
//! Everything it creates is named after a fresh run id (hardware `conf-RUN`,
//! devices `conf-RUN-N`, releases `2.N.0` with the id as a number), so runs
//! can repeat on one store.
//! With several `--server`s (hosts sharing one store) every step spreads its
//! requests over all of them, so counts are made concurrently by different
//! hosts. The server must trust `--keys` (`trust_root` is its `trust.json`) and
//! should poll quickly (`poll_seconds` of 1 or 2), or the fleet takes long.
//!
//! Steps: admin access; concurrent enrolment (every device in the directory);
//! publish (chunks served with `Range`, unknown ones `404`); a staged rollout
//! driven by the simulated fleet to completion with exact counters and a clean
//! recount; concurrent audited actions (the audit chain intact, every entry
//! there); a bad release halted by its canary and rolled back; a hawkBit DDI
//! poll and feedback; `/metrics`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use sluice_api::admin::audit::Page;
use sluice_api::admin::campaigns::{
    Campaign, CampaignState, NewCampaign, Progress, Recount, RecountRequest, Selector,
};
use sluice_api::admin::devices::Revoked;
use sluice_api::admin::fleet::{Cursor, DeviceSearch, FleetSummary};
use sluice_api::admin::operators::RevokeRequest;
use sluice_api::admin::releases::Published;
use sluice_device::sim::{self, CrashModel, Faults, SimDevice, Until};
use sluice_protocol::TrustRoot;
use sluice_sample_release::{SampleRelease, random_bytes};

use crate::client::{Client, ServerArgs};
use crate::demo::QUICK_STAGES;
use crate::keydir::KeyDir;
use crate::output::Format;
use crate::sim::{FleetShape, enrol};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A Sluice server; repeat it for hosts that share one store.
    #[arg(long = "server", value_name = "URL", required = true)]
    servers: Vec<String>,
    /// File holding the owner token, or an operator token with every scope
    /// the steps use (default: SLUICE_TOKEN, else .spin/admin-token).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// The key directory the servers trust (`sluice keygen --keys DIR`).
    #[arg(long, value_name = "DIR")]
    keys: PathBuf,
    /// Simulated devices in the staged rollout (at least 20).
    #[arg(long, default_value_t = 200)]
    devices: usize,
    /// The servers' hawkBit DDI tenant (`ddi_tenant`).
    #[arg(long, default_value = "DEFAULT")]
    ddi_tenant: String,
    /// Give up on a fleet that has not settled after this long.
    #[arg(long, default_value = "10m", value_parser = crate::duration::parse)]
    timeout: Duration,
    #[command(flatten)]
    format: Format,
}

/// What one step found.
struct Step {
    name: &'static str,
    outcome: Result<String>,
    seconds: f64,
}

/// The servers, each with an admin client.
struct Servers {
    urls: Vec<String>,
    clients: Vec<Client>,
    agent: ureq::Agent,
}

impl Servers {
    /// The client for the `i`th request: requests take turns over the servers.
    fn client(&self, i: usize) -> &Client {
        &self.clients[i % self.clients.len()]
    }

    fn url(&self, i: usize) -> &str {
        &self.urls[i % self.urls.len()]
    }

    /// A request that is not the admin client's: no token, or a device's.
    fn raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Answer> {
        let mut request = ureq::http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body.unwrap_or_default().to_vec())?;
        let mut response = self
            .agent
            .run(request)
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = response.body_mut().read_to_vec().unwrap_or_default();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// An answer to [`Servers::raw`].
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// The run's names and what the steps hand on to each other.
struct Run {
    id: String,
    /// The run id as a number, the middle of every release version.
    number: u32,
    hardware: String,
    devices: Vec<SimDevice>,
    trust: TrustRoot,
    good: String,
    good_campaign: String,
}

impl Run {
    /// A release version of the run: `MAJOR.NUMBER.0`.
    fn version(major: u32, number: u32) -> String {
        format!("{major}.{number}.0")
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

pub fn run(args: Args) -> Result<()> {
    ensure!(args.devices >= 20, "--devices must be at least 20");
    let keys = KeyDir::new(&args.keys);
    let public = keys.load_public()?;
    let signer = keys.load_signing_key()?;
    let clients = args
        .servers
        .iter()
        .map(|server| {
            Client::new(&ServerArgs {
                server: server.clone(),
                token_file: args.token_file.clone(),
                ca: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let servers = Servers {
        urls: args
            .servers
            .iter()
            .map(|s| s.trim_end_matches('/').to_owned())
            .collect(),
        clients,
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into(),
    };
    let number = u32::from_le_bytes(random_bytes()?) >> 4;
    let id = format!("{number:08x}");
    let mut run = Run {
        hardware: format!("conf-{id}"),
        good: Run::version(2, number),
        id,
        number,
        devices: Vec::new(),
        trust: public.trust_root.clone(),
        good_campaign: String::new(),
    };
    let release = |version: &str, hardware: &str| {
        SampleRelease::signed(
            public.trust_root.clone(),
            &signer,
            &public.statement_envelope,
            version,
            hardware,
            0,
            1 << 20,
            128 << 10,
        )
    };
    eprintln!(
        "conformance run {} against {} (hardware {})",
        run.id,
        servers.urls.join(", "),
        run.hardware
    );

    let mut steps: Vec<Step> = Vec::new();
    let mut step = |name: &'static str, f: &mut dyn FnMut() -> Result<String>| -> bool {
        let started = Instant::now();
        let outcome = f();
        let seconds = started.elapsed().as_secs_f64();
        match &outcome {
            Ok(detail) => eprintln!("ok    {name} ({seconds:.1}s): {detail}"),
            Err(e) => eprintln!("FAIL  {name} ({seconds:.1}s): {e:#}"),
        }
        let ok = outcome.is_ok();
        steps.push(Step {
            name,
            outcome,
            seconds,
        });
        ok
    };

    let completed = step("admin access", &mut || admin_access(&servers))
        && step("concurrent enrolment", &mut || {
            enrol_fleet(&servers, &mut run, args.devices)
        })
        && step("publish", &mut || {
            publish(&servers, &release(&run.good, &run.hardware)?)
        })
        && step("staged rollout", &mut || {
            staged_rollout(&servers, &mut run, args.timeout)
        })
        && step("counters match a recount", &mut || {
            recount(&servers, &run.good_campaign)
        })
        && step("concurrent audited actions", &mut || {
            audited_actions(&servers, &run)
        })
        && step("halt and rollback", &mut || {
            let bad = Run::version(3, run.number);
            publish(&servers, &release(&bad, &run.hardware)?)?;
            halt_and_rollback(&servers, &run, &bad, args.timeout)
        })
        && step("hawkBit DDI poll and feedback", &mut || {
            let hardware = format!("{}-ddi", run.hardware);
            let version = Run::version(4, run.number);
            publish(&servers, &release(&version, &hardware)?)?;
            ddi(&servers, &run, &args.ddi_tenant, &hardware, &version)
        })
        && step("metrics", &mut || metrics(&servers, &run));

    let passed = steps.iter().filter(|s| s.outcome.is_ok()).count();
    let failed = steps.len() - passed;
    if args.format.json {
        let results: Vec<Value> = steps
            .iter()
            .map(|s| {
                json!({
                    "step": s.name,
                    "ok": s.outcome.is_ok(),
                    "detail": match &s.outcome {
                        Ok(d) => d.clone(),
                        Err(e) => format!("{e:#}"),
                    },
                    "seconds": (s.seconds * 100.0).round() / 100.0,
                })
            })
            .collect();
        args.format.document(
            &json!({"run": run.id, "servers": servers.urls, "passed": passed, "failed": failed, "steps": results}),
        )?;
    }
    args.format
        .say(format!("conformance: {passed} passed, {failed} failed"));
    if !completed {
        bail!("conformance run {} failed", run.id);
    }
    Ok(())
}

/// Admin routes refuse a missing or wrong token and answer the right one, on
/// every server.
fn admin_access(servers: &Servers) -> Result<String> {
    for (i, url) in servers.urls.iter().enumerate() {
        let none = servers
            .raw("GET", &format!("{url}/v1/admin/fleet"), &[], None)?
            .status;
        let wrong = servers
            .raw(
                "GET",
                &format!("{url}/v1/admin/fleet"),
                &[("authorization", "Bearer not-the-token")],
                None,
            )?
            .status;
        ensure!(
            none == 401 && wrong == 401,
            "{url}: without the token {none}, with a wrong one {wrong} (expected 401)"
        );
        let _: FleetSummary = servers.clients[i].get("/v1/admin/fleet")?;
    }
    Ok(format!(
        "{} server(s): 401 without the token, 200 with it",
        servers.urls.len()
    ))
}

/// Runs `work(i)` for `0..n` on up to 8 threads; the first error wins.
fn concurrently(n: usize, work: impl Fn(usize) -> Result<()> + Sync) -> Result<()> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failure = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..n.min(8) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    if let Err(e) = work(i) {
                        failure
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    match failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Enrols `count` devices of `hardware` named `PREFIX-N` through `client`.
fn enrol_devices(
    client: &Client,
    count: usize,
    prefix: &str,
    hardware: &str,
) -> Result<Vec<SimDevice>> {
    enrol(
        client,
        &FleetShape {
            count,
            prefix,
            mix: &[(hardware.to_owned(), 1.0)],
            battery: None,
            utc_offsets: &[],
            fail_rate: 0.0,
        },
    )
}

/// Enrols the fleet ten devices a request, eight requests at once over the
/// servers (they contend for the device directory's pages and the audit log),
/// then finds every device by search, which walks the directory.
fn enrol_fleet(servers: &Servers, run: &mut Run, count: usize) -> Result<String> {
    let batches = count.div_ceil(10);
    let enrolled = Mutex::new(Vec::new());
    concurrently(batches, |b| {
        let devices = enrol_devices(
            servers.client(b),
            10.min(count - b * 10),
            &format!("conf-{}-{b}", run.id),
            &run.hardware,
        )?;
        enrolled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(devices);
        Ok(())
    })?;
    run.devices = enrolled.into_inner().unwrap_or_else(|e| e.into_inner());
    let found = search_all(servers.client(0), &format!("conf-{}-", run.id))?;
    let missing: Vec<&String> = run
        .devices
        .iter()
        .map(|d| &d.id)
        .filter(|id| !found.contains(*id))
        .collect();
    ensure!(
        missing.is_empty(),
        "{} of {} enrolled devices are missing from the directory (first: {})",
        missing.len(),
        run.devices.len(),
        missing[0]
    );
    let fleet: FleetSummary = servers.client(1).get("/v1/admin/fleet")?;
    let on_hardware = fleet.hardware.get(&run.hardware).copied().unwrap_or(0);
    ensure!(
        on_hardware == count as i64,
        "the fleet view counts {on_hardware} devices of {}, not {count}: {:?}",
        run.hardware,
        fleet.hardware
    );
    Ok(format!(
        "{count} devices in {batches} requests, 8 at once; all {} found in the directory",
        found.len()
    ))
}

/// Every device id a search finds, following its cursor.
fn search_all(client: &Client, query: &str) -> Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    let mut next: Option<Cursor> = None;
    loop {
        let mut path = format!("/v1/admin/devices?q={query}&limit=500");
        if let Some(cursor) = &next {
            path.push('&');
            path.push_str(&cursor.query());
        }
        let page: DeviceSearch = client.get(&path)?;
        found.extend(page.devices.into_iter().map(|device| device.id));
        match page.next {
            Some(cursor) => next = Some(cursor),
            None => return Ok(found),
        }
    }
}

/// Publishes a release (chunks, then the manifest), then checks what devices
/// and CDNs see: a chunk's range, and 404 for an unknown chunk.
fn publish(servers: &Servers, release: &SampleRelease) -> Result<String> {
    for (i, (digest, data)) in release.chunks.iter().enumerate() {
        servers
            .client(i)
            .send("PUT", &format!("/v1/admin/chunks/{digest}"), Some(data))?
            .ok()
            .with_context(|| format!("uploading chunk {digest}"))?;
    }
    let _: Published = servers
        .client(1)
        .send("POST", "/v1/admin/releases", Some(&release.manifest))?
        .typed()
        .context("publishing the manifest")?;
    let (digest, data) = &release.chunks[0];
    let url = format!("{}/v1/chunks/{digest}", servers.url(0));
    let Answer {
        status,
        headers,
        body,
    } = servers.raw("GET", &url, &[("range", "bytes=10-19")], None)?;
    ensure!(
        status == 206 && body == data[10..20],
        "GET {url} with Range bytes=10-19 answered {status} with {} bytes",
        body.len()
    );
    let range = header(&headers, "content-range")
        .unwrap_or_default()
        .to_owned();
    ensure!(
        range == format!("bytes 10-19/{}", data.len()),
        "Content-Range {range:?}"
    );
    let unknown = format!("{}/v1/chunks/{}", servers.url(1), "0".repeat(64));
    let status = servers.raw("GET", &unknown, &[], None)?.status;
    ensure!(status == 404, "an unknown chunk answered {status}, not 404");
    let status = servers
        .raw(
            "POST",
            &format!("{}/v1/admin/releases", servers.url(0)),
            &[],
            Some(&release.manifest),
        )?
        .status;
    ensure!(
        status == 401,
        "publishing without the token answered {status}"
    );
    Ok(format!(
        "{} chunks and a signed manifest; Range answers 206 {range}, an unknown chunk 404",
        release.chunks.len()
    ))
}

/// The simulated fleet, split over the servers, until it settles; `watch` is
/// called about once a second meanwhile.
fn drive(
    servers: &Servers,
    devices: &[SimDevice],
    version: &str,
    trust: &TrustRoot,
    timeout: Duration,
    watch: &(dyn Fn() + Sync),
) -> Vec<sim::Summary> {
    let per_server = devices.len().div_ceil(servers.urls.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = devices
            .chunks(per_server)
            .zip(&servers.urls)
            .map(|(part, server)| {
                let fleet = sim::Fleet {
                    server: server.clone(),
                    devices: part.to_vec(),
                    version: version.to_owned(),
                    security_version: 0,
                    trust: trust.clone(),
                    faults: Faults::default(),
                    crashes: CrashModel::default(),
                    until: Until {
                        // The quick stages soak 3 s each.
                        settled: Duration::from_secs(8),
                        timeout,
                    },
                    workers: 16,
                };
                scope.spawn(move || sim::run(fleet, |_| watch()))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn progress(client: &Client, campaign: &str) -> Result<Progress> {
    client.get(&format!("/v1/admin/campaigns/{campaign}"))
}

/// A campaign over `hardware` under `policy`, named for people.
fn new_campaign(release: &str, name: String, policy: Value, hardware: &str) -> NewCampaign {
    NewCampaign {
        name,
        selector: Selector {
            hardware: vec![hardware.to_owned()],
            ..Selector::default()
        },
        policy,
        ..NewCampaign::new(release)
    }
}

/// A staged campaign (the quick stages: 5%, 25%, 100%) over the fleet, driven
/// through every server at once; then every device has succeeded, exactly once.
/// The share of the fleet (percent) the first stage of the conformance
/// rollout offers: enough that some of `devices` fall in it. A device is in
/// the first p% by the hash of its id and the campaign's, so with 5% of 60
/// devices no device is in it one run in twenty, and the standard policy
/// never advances a stage none of whose devices has finished.
fn first_stage_percent(devices: usize) -> u64 {
    (1000u64.div_ceil(devices.max(1) as u64)).clamp(5, 20)
}

fn staged_rollout(servers: &Servers, run: &mut Run, timeout: Duration) -> Result<String> {
    let mut policy: Value = serde_json::from_str(QUICK_STAGES)?;
    policy["stages"][0]["percent"] = json!(first_stage_percent(run.devices.len()));
    let campaign: Campaign = servers.client(0).post(
        "/v1/admin/campaigns",
        &new_campaign(
            &run.good,
            format!("conformance {}", run.id),
            policy,
            &run.hardware,
        ),
    )?;
    run.good_campaign = campaign.id;
    let started = Instant::now();
    let summaries = drive(servers, &run.devices, "1.0.0", &run.trust, timeout, &|| {});
    let seconds = started.elapsed().as_secs_f64();
    let settled = summaries.iter().all(|s| s.settled);
    let succeeded: u64 = summaries.iter().map(|s| s.succeeded).sum();
    let p = progress(servers.client(1), &run.good_campaign)?;
    let n = run.devices.len() as u64;
    ensure!(
        settled,
        "the fleet had not settled after {timeout:?}: {:?}",
        p.total
    );
    ensure!(
        p.total.offered == n && p.total.succeeded == n && succeeded == n && p.in_flight == 0,
        "expected {n} offered and succeeded, none in flight; the server counts {:?} and {} in flight, the devices {succeeded} succeeded",
        p.total,
        p.in_flight
    );
    let steps = p.steps.len();
    Ok(format!(
        "campaign {}: {n} of {n} succeeded through {steps} steps in {seconds:.1}s, counted once each",
        run.good_campaign
    ))
}

/// The campaign's counters against its devices' states.
fn recount(servers: &Servers, campaign: &str) -> Result<String> {
    let r: Recount = servers.client(0).post(
        &format!("/v1/admin/campaigns/{campaign}/recount"),
        &RecountRequest { apply: false },
    )?;
    ensure!(
        r.differences.is_empty(),
        "the recount differs: {:?}",
        r.differences
    );
    Ok(format!(
        "campaign {campaign}: {} devices offered, every counter matches",
        r.devices
    ))
}

/// The audit head's number (the count of entries ever appended).
fn audit_seq(client: &Client) -> Result<i64> {
    let page: Page = client.get("/v1/admin/audit?after=0&limit=1")?;
    Ok(page.head.seq)
}

/// Revokes 32 extra devices, eight at once over the servers: 32 audit entries
/// appended concurrently. Every one must be in the log, each following the one
/// before (a store whose compare-and-swap loses races loses entries here).
fn audited_actions(servers: &Servers, run: &Run) -> Result<String> {
    let spare = enrol_devices(
        servers.client(0),
        32,
        &format!("conf-{}-spare", run.id),
        &format!("{}-spare", run.hardware),
    )?;
    let before = audit_seq(servers.client(0))?;
    concurrently(spare.len(), |i| {
        servers
            .client(i)
            .post::<Revoked>(
                &format!("/v1/admin/devices/{}/revoke", spare[i].id),
                &RevokeRequest {
                    reason: "conformance: concurrent audited actions".to_owned(),
                },
            )
            .map(drop)
    })?;
    let after = audit_seq(servers.client(1))?;
    let report = crate::audit::verify_server(servers.client(1))?;
    ensure!(
        report.findings.is_empty(),
        "the audit chain is broken: {}",
        report
            .findings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    );
    let revocations = crate::audit::count_after(servers.client(0), before, "device.revoke")?;
    ensure!(
        after - before >= 32 && revocations == 32,
        "32 revocations made {} audit entries, {revocations} of them revocations",
        after - before
    );
    Ok(format!(
        "32 revocations at once: 32 entries, the chain of {} entries intact",
        report.entries
    ))
}

/// A release half the fleet cannot boot: the canary halts the campaign, the
/// operator rolls it back, and no device is left on it.
fn halt_and_rollback(servers: &Servers, run: &Run, bad: &str, timeout: Duration) -> Result<String> {
    // A canary of a quarter of the fleet: large enough, even for 20 devices, to
    // hold the three finished devices the failure gate judges on.
    let policy = json!({
        "stages": [{"percent": 25, "soak": "3s", "min_devices": 3}, {"percent": 100}],
        "failures": {"max_rate": 0.05, "confidence": 0.95, "min_sample": 3},
    });
    let campaign: Campaign = servers.client(1).post(
        "/v1/admin/campaigns",
        &new_campaign(
            bad,
            format!("conformance {} (bad)", run.id),
            policy,
            &run.hardware,
        ),
    )?;
    let id = campaign.id;
    let failing: Vec<SimDevice> = run
        .devices
        .iter()
        .map(|d| SimDevice {
            fails_health: sim::fraction(&d.id, 1) < 0.5,
            ..d.clone()
        })
        .collect();
    // As an operator would: once the canary halts the campaign, roll it back
    // (the devices that failed revert on their own; the others committed it).
    let halt: Mutex<Option<(Progress, Result<()>)>> = Mutex::new(None);
    let watch = || {
        let mut halt = halt.lock().unwrap_or_else(|e| e.into_inner());
        if halt.is_some() {
            return;
        }
        match progress(servers.client(0), &id) {
            Ok(p) if p.campaign.state == CampaignState::Halted => {
                let rollback = servers
                    .client(1)
                    .post_empty::<Campaign>(&format!("/v1/admin/campaigns/{id}/rollback"))
                    .map(drop);
                *halt = Some((p, rollback));
            }
            _ => {}
        }
    };
    let summaries = drive(servers, &failing, &run.good, &run.trust, timeout, &watch);
    let Some((halted, rollback)) = halt.into_inner().unwrap_or_else(|e| e.into_inner()) else {
        let p = progress(servers.client(0), &id)?;
        bail!(
            "the bad release's campaign is {} (expected halted): {:?}",
            p.campaign.state.as_str(),
            p.total
        );
    };
    rollback.context("rolling the halted campaign back")?;
    let reason = halted.campaign.reason.unwrap_or_default();
    let committed = halted.total.succeeded;
    let p = progress(servers.client(0), &id)?;
    let on_bad: u64 = summaries
        .iter()
        .map(|s| s.versions.get(bad).copied().unwrap_or(0))
        .sum();
    ensure!(
        on_bad == 0,
        "{on_bad} devices still run {bad} after the rollback: {:?}",
        p.total
    );
    ensure!(
        p.total.rolled_back >= committed,
        "{committed} devices had committed {bad}, {} were rolled back",
        p.total.rolled_back
    );
    recount(servers, &id)?;
    Ok(format!(
        "halted after {} failed of {} offered ({reason}); {} rolled back, none left on {bad}; the recount matches",
        p.total.failed, p.total.offered, p.total.rolled_back
    ))
}

/// One device of its own hardware, speaking hawkBit DDI: it polls, is given
/// the deployment, reports success, and the campaign counts it.
fn ddi(
    servers: &Servers,
    run: &Run,
    tenant: &str,
    hardware: &str,
    version: &str,
) -> Result<String> {
    let device = enrol_devices(
        servers.client(0),
        1,
        &format!("conf-{}-ddi", run.id),
        hardware,
    )?
    .remove(0);
    let campaign: Campaign = servers.client(1).post(
        "/v1/admin/campaigns",
        &new_campaign(
            version,
            format!("conformance {} (DDI)", run.id),
            json!({"stages": [{"percent": 100}]}),
            hardware,
        ),
    )?;
    let campaign = campaign.id;
    let auth = format!("TargetToken {}", device.secret);
    let headers = [
        ("authorization", auth.as_str()),
        ("accept", "application/hal+json"),
    ];
    let base = format!("{}/{tenant}/controller/v1/{}", servers.url(0), device.id);
    let Answer { status, body, .. } = servers.raw("GET", &base, &headers, None)?;
    ensure!(status == 200, "the DDI poll answered {status}");
    let poll: Value = serde_json::from_slice(&body).context("the DDI poll's answer")?;
    let href = poll["_links"]["deploymentBase"]["href"]
        .as_str()
        .with_context(|| format!("the poll offers no deployment: {poll}"))?
        .to_owned();
    let action = href
        .rsplit('/')
        .next()
        .and_then(|a| a.split('?').next())
        .unwrap_or_default()
        .to_owned();
    let deployment = format!(
        "{}/{tenant}/controller/v1/{}/deploymentBase/{action}",
        servers.url(1),
        device.id
    );
    let Answer { status, body, .. } = servers.raw("GET", &deployment, &headers, None)?;
    ensure!(status == 200, "GET deploymentBase answered {status}");
    let base_json: Value = serde_json::from_slice(&body).context("the deploymentBase")?;
    ensure!(
        base_json["id"].as_str() == Some(action.as_str()),
        "deploymentBase is for action {}, not {action}",
        base_json["id"]
    );
    let feedback = json!({
        "status": {"execution": "closed", "result": {"finished": "success"}, "details": ["conformance"]}
    })
    .to_string();
    let Answer { status, body, .. } = servers.raw(
        "POST",
        &format!("{deployment}/feedback"),
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        Some(feedback.as_bytes()),
    )?;
    ensure!(
        status == 200,
        "the feedback answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let p = progress(servers.client(0), &campaign)?;
    ensure!(
        p.total.succeeded == 1,
        "the DDI campaign counts {:?}",
        p.total
    );
    Ok(format!(
        "device {} polled, fetched action {action}, reported success; campaign {campaign} counts it",
        device.id
    ))
}

/// `/metrics` refuses a missing token, and its campaign figures are the
/// campaign's.
fn metrics(servers: &Servers, run: &Run) -> Result<String> {
    let url = format!("{}/metrics", servers.url(0));
    let status = servers.raw("GET", &url, &[], None)?.status;
    ensure!(
        status == 401,
        "/metrics without the token answered {status}"
    );
    let reply = servers.client(1).send("GET", "/metrics", None)?;
    ensure!(reply.status == 200, "/metrics answered {}", reply.status);
    let text = String::from_utf8_lossy(&reply.body);
    let wanted = format!(
        "sluice_campaign_devices_total{{campaign=\"{}\",outcome=\"succeeded\"}} {}",
        run.good_campaign,
        run.devices.len()
    );
    ensure!(
        text.lines().any(|l| l == wanted),
        "/metrics has no line {wanted:?}"
    );
    Ok(format!("{} lines; {wanted}", text.lines().count()))
}

#[cfg(test)]
mod tests {
    use super::first_stage_percent;

    #[test]
    fn the_first_stage_almost_surely_holds_a_device() {
        for devices in 50..=5000 {
            let percent = first_stage_percent(devices);
            assert!((5..=20).contains(&percent), "{devices}: {percent}%");
            let none_in_it = (1.0 - percent as f64 / 100.0).powi(devices as i32);
            assert!(
                none_in_it < 1e-4,
                "{devices} devices, {percent}%: {none_in_it}"
            );
        }
    }
}
