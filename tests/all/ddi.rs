//! hawkBit DDI against `sluice up`, proven with the real SWUpdate client from
//! Debian (2022.12) in suricatta mode with dry-run (`-n`): it polls, downloads
//! a CMS-signed `.swu`, "installs" it and reports; the campaign counts it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::app::{admin, app_with_policy, host_for};
use crate::support::cli::{scratch, sluice};
use crate::support::host::Host;

/// `swupdate`, or `None` (and a note) where it is not installed; under CI it
/// must be (`scripts/test` installs it).
fn swupdate() -> Option<&'static str> {
    let found = Command::new("swupdate")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "swupdate is not installed (scripts/test installs it)"
        );
        eprintln!("skipped: swupdate is not installed (apt-get install swupdate)");
        return None;
    }
    Some("swupdate")
}

fn run(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A signing key and certificate SWUpdate accepts for CMS (`-k cert.pem`):
/// digitalSignature with the emailProtection purpose.
fn signing_certificate(dir: &Path) {
    std::fs::write(
        dir.join("cert.cnf"),
        "[req]\ndistinguished_name=dn\nprompt=no\n[dn]\nCN=sluice-test-signer\n\
         [ext]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=emailProtection\nsubjectKeyIdentifier=hash\n",
    )
    .unwrap();
    run(
        dir,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "30",
            "-config",
            "cert.cnf",
            "-extensions",
            "ext",
        ],
    );
}

/// A signed `.swu` (cpio `crc`: sw-description, its CMS signature, one file,
/// then 1 MiB of trailing data that sw-description does not name, which SWUpdate
/// skips); `corrupt` changes the file after signing, so its SHA-256 no longer
/// matches.
///
/// The trailing megabyte makes SWUpdate 2022.12 report a bad image reliably: its
/// installer finds the hash mismatch and closes the stream while the download is
/// still running, so suricatta's download fails. When the whole archive fits in
/// the socket buffers instead, the download ends before the installer's verdict
/// and suricatta's status poll can read the installer's idle state as success (it
/// did, on a loaded machine: "HASH mismatch", then "Update successful").
fn swu(dir: &Path, name: &str, corrupt: bool) {
    let work = dir.join(format!("{name}.d"));
    std::fs::create_dir_all(&work).unwrap();
    let payload = b"sluice firmware 2.0.0\n";
    std::fs::write(work.join("payload.txt"), payload).unwrap();
    let trailer: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(work.join("trailer.bin"), trailer).unwrap();
    let digest = sluice_protocol::Digest::of(payload);
    let target = dir.join("installed.txt");
    std::fs::write(
        work.join("sw-description"),
        format!(
            "software =\n{{\n\tversion = \"2.0.0\";\n\tdescription = \"sluice test image\";\n\
             \thardware-compatibility: [ \"1.0\" ];\n\tfiles: (\n\t\t{{\n\
             \t\t\tfilename = \"payload.txt\";\n\t\t\tpath = \"{}\";\n\
             \t\t\tsha256 = \"{digest}\";\n\t\t}}\n\t);\n}}\n",
            target.display()
        ),
    )
    .unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    run(
        &work,
        "openssl",
        &[
            "cms",
            "-sign",
            "-in",
            "sw-description",
            "-out",
            "sw-description.sig",
            "-signer",
            cert.to_str().unwrap(),
            "-inkey",
            key.to_str().unwrap(),
            "-outform",
            "DER",
            "-nosmimecap",
            "-binary",
        ],
    );
    if corrupt {
        std::fs::write(work.join("payload.txt"), b"SLUICE firmware 2.0.0\n").unwrap();
    }
    let mut cpio = Command::new("cpio")
        .args(["-o", "-H", "crc", "--quiet"])
        .current_dir(&work)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(dir.join(name)).unwrap())
        .spawn()
        .expect("cpio");
    use std::io::Write as _;
    cpio.stdin
        .take()
        .unwrap()
        .write_all(b"sw-description\nsw-description.sig\npayload.txt\ntrailer.bin\n")
        .unwrap();
    assert!(cpio.wait().unwrap().success());
}

/// Packs `image` as `version` and publishes it under its DDI file name.
fn publish(dir: &Path, host: &Host, image: &str, version: &str) {
    let out = format!("rel-{version}");
    sluice(
        dir,
        &[
            "release",
            "pack",
            image,
            "--keys",
            "keys",
            "--version",
            version,
            "--hardware",
            "cam-v2",
            "--security-version",
            "1",
            "--out",
            &out,
            "--chunk-size",
            "64KiB",
        ],
    )
    .success();
    sluice(
        dir,
        &[
            "release",
            "publish",
            &out,
            "--file-name",
            image,
            "--server",
            &host.url,
            "--token-file",
            &host.token_file(),
        ],
    )
    .success();
}

/// SWUpdate in suricatta mode against `host`, as controller `id`.
struct Suricatta {
    child: Child,
    log: std::path::PathBuf,
}

impl Suricatta {
    fn start(dir: &Path, host: &Host, id: &str, secret: &str, extra: &str) -> Suricatta {
        let log = dir.join(format!("swupdate-{id}{}.log", extra.replace(' ', "")));
        let suricatta = format!(
            "-t DEFAULT -u {} -i {id} -k {secret} -p 1 {extra}",
            host.url
        );
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("swupdate")
            .args([
                "-v", "-n", "-H", "cam:1.0", "-k", "cert.pem", "-u", &suricatta,
            ])
            .current_dir(dir)
            .env("TMPDIR", dir)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("swupdate");
        Suricatta { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Suricatta {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn wait_for(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
    log: impl Fn() -> String,
) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < timeout,
            "timed out waiting for {what}:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn enrol(host: &Host, id: &str) -> String {
    let r = admin(
        host,
        "POST",
        "/v1/admin/devices",
        Some(
            json!({"devices": [{"id": id, "hardware": "cam-v2", "version": "1.0.0",
                                 "security_version": 1}]}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["devices"][0]["secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn campaign(host: &Host, release: &str, device: &str) -> String {
    let r = admin(
        host,
        "POST",
        "/v1/admin/campaigns",
        Some(
            json!({"release": release, "policy": {"stages": [{"percent": 100}]},
                    "selector": {"ids": [device]}}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_owned()
}

fn totals(host: &Host, campaign: &str) -> Value {
    admin(
        host,
        "GET",
        &format!("/v1/admin/campaigns/{campaign}"),
        None,
    )
    .json()["total"]
        .clone()
}

fn device(host: &Host, id: &str) -> Value {
    admin(host, "GET", &format!("/v1/admin/devices/{id}"), None).json()
}

#[test]
fn swupdate_installs_a_signed_swu_from_sluice_and_its_results_count() {
    let Some(_) = swupdate() else { return };
    let (_guard, dir) = scratch();
    sluice(&dir, &["keygen", "--keys", "keys"]).success();
    signing_certificate(&dir);
    swu(&dir, "fw.swu", false);
    swu(&dir, "fw-bad.swu", true);
    let host = host_for(&dir, &app_with_policy(&dir, "staged"));
    publish(&dir, &host, "fw.swu", "2.0.0");
    publish(&dir, &host, "fw-bad.swu", "2.0.1");

    // A good update: SWUpdate polls, downloads, verifies the signature and the
    // image hash, "installs" (dry-run) and waits for the reboot. After it, the
    // device confirms success (`-c 2`, what its boot script would do).
    let secret = enrol(&host, "swu-1");
    let good = campaign(&host, "2.0.0", "swu-1");
    {
        let client = Suricatta::start(&dir, &host, "swu-1", &secret, "");
        wait_for(
            "SWUpdate to install",
            Duration::from_secs(60),
            || client.log().contains("SWUPDATE successful"),
            || client.log(),
        );
        assert_eq!(totals(&host, &good)["offered"], 1);
    }
    {
        let client = Suricatta::start(&dir, &host, "swu-1", &secret, "-c 2");
        wait_for(
            "the success report",
            Duration::from_secs(60),
            || totals(&host, &good)["succeeded"] == 1,
            || client.log(),
        );
    }
    let state = &device(&host, "swu-1")["state"];
    assert_eq!(state["version"], "2.0.0", "{state}");
    assert_eq!(state["rollout"]["phase"], "succeeded");

    // A corrupted artifact: SWUpdate finds the hash mismatch and reports failure.
    let secret = enrol(&host, "swu-2");
    let bad = campaign(&host, "2.0.1", "swu-2");
    {
        let client = Suricatta::start(&dir, &host, "swu-2", &secret, "");
        wait_for(
            "the failure report",
            Duration::from_secs(60),
            || totals(&host, &bad)["failed"] == 1,
            || client.log(),
        );
    }
    let state = &device(&host, "swu-2")["state"];
    assert_eq!(state["version"], "1.0.0", "{state}");
    assert_eq!(state["rollout"]["phase"], "failed");
    // What SWUpdate said comes with the failure (its first lines, in order).
    assert_eq!(
        state["rollout"]["failure"]["code"], "ddi-failure",
        "{state}"
    );
    assert!(
        state["rollout"]["failure"]["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{state}"
    );
    host.stop();
}
