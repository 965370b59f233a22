//! HTTPS: `sluice up --tls-cert FILE --tls-key FILE`, a device agent that
//! trusts only its `--ca`, and one that refuses a server its CA does not vouch
//! for. The test makes its own CAs with openssl.

use std::path::Path;
use std::process::Command;

use crate::device::device_args;
use crate::support::app::{create_campaign, enrol, operate, publish, release, trust};
use crate::support::cli::{scratch, sluice};
use crate::support::host::{Host, HostConfig};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (scripts/test installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `name`: `name.pem` and `name.key` in `dir`.
fn ca(dir: &Path, name: &str) {
    let subject = format!("/CN=Sluice test CA {name}");
    let (pem, key) = (format!("{name}.pem"), format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A certificate for 127.0.0.1 that CA `issuer` signed: `server.pem`, `server.key`.
fn server_cert(dir: &Path, issuer: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{issuer}.pem"),
            "-CAkey",
            &format!("{issuer}.key"),
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}

#[test]
fn a_device_updates_over_https_and_refuses_a_server_its_ca_does_not_vouch_for() {
    let (_guard, dir) = scratch();
    release(&dir);
    ca(&dir, "fleet-ca");
    ca(&dir, "other-ca");
    server_cert(&dir, "fleet-ca");
    let state = dir.join("state");
    let config = || HostConfig::sluice(&state).variable("trust_root", &trust(&dir));

    // Set up over plain HTTP, then serve the same state over HTTPS.
    let host = Host::start(config());
    publish(&dir, &host);
    let campaign = create_campaign(&dir, &host, r#"{"stages":[{"percent":100}]}"#);
    let devices = enrol(&host, &["cam-1".into(), "cam-2".into()]);
    host.stop();
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let host = Host::start(
        config()
            .arg("--tls-cert")
            .arg(path("server.pem"))
            .arg("--tls-key")
            .arg(path("server.key")),
    );
    assert!(host.url.starts_with("https://127.0.0.1:"), "{}", host.url);

    let device = |(id, secret): &(String, String), ca: &str| {
        let state_dir = path(id);
        let ca = path(ca);
        let trust_file = path("keys/trust.json");
        let mut args = device_args(&host, id, secret, &trust_file, &state_dir);
        args.extend(["--ca", &ca]);
        sluice(&dir, &args)
    };
    // Trusting the fleet's CA: the whole update, over TLS.
    let run = device(&devices[0], "fleet-ca.pem").success();
    assert!(
        run.stdout.contains("rebooted into slot B with 1.2.0"),
        "{}",
        run.stdout
    );
    // Trusting another CA only: the server is refused, nothing changes.
    let run = device(&devices[1], "other-ca.pem");
    assert!(!run.stdout.contains("updating"), "{}", run.stdout);
    let said = format!("{}{}", run.stdout, run.stderr).to_lowercase();
    assert!(
        said.contains("certificate") || said.contains("tls"),
        "{said}"
    );

    // The operator's commands take --ca too; the refused device reached nothing.
    let status = operate(
        &dir,
        &host,
        &[
            "campaign",
            "status",
            &campaign,
            "--ca",
            &path("fleet-ca.pem"),
        ],
    );
    assert!(status.stdout.contains("offered 1,"), "{}", status.stdout);
    // Plain HTTP to the HTTPS port gets no answer.
    let plain = host.url.replacen("https://", "http://", 1);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(5)))
        .build()
        .into();
    assert!(agent.get(format!("{plain}/v1/checkin")).call().is_err());
    host.stop();
}
