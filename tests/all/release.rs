//! `sluice keygen` and `sluice release pack|verify` on real files.

use std::fs;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::app::{release, trust};
use crate::support::cli::{scratch, sluice};
use crate::support::host::{Host, HostConfig};

const CHUNK: usize = 4096;

fn write_image(dir: &Path, name: &str, len: usize) {
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
    fs::write(dir.join(name), data).unwrap();
}

fn pack(dir: &Path, image: &str, out: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "release",
        "pack",
        image,
        "--keys",
        "keys",
        "--version",
        "1.2.0",
        "--hardware",
        "cam-v2",
        "--security-version",
        "5",
        "--out",
        out,
        "--chunk-size",
        "4KiB",
    ];
    args.extend_from_slice(extra);
    sluice(dir, &args).success().last_line().to_owned()
}

fn chunk_files(reldir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = fs::read_dir(reldir.join("chunks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn keygen_writes_secret_files_owner_only_and_never_overwrites() {
    let (_guard, dir) = scratch();
    sluice(&dir, &["keygen", "--keys", "keys"]).success();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |f: &str| {
            fs::metadata(dir.join("keys").join(f))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("root.key"), 0o600);
        assert_eq!(mode("signing.key"), 0o600);
        assert_eq!(mode("trust.json"), 0o644);
        assert_eq!(mode("keys.statement"), 0o644);
    }
    let root_before = fs::read(dir.join("keys/root.key")).unwrap();
    sluice(&dir, &["keygen", "--keys", "keys"]).failure(&["already holds keys"]);
    assert_eq!(fs::read(dir.join("keys/root.key")).unwrap(), root_before);
}

#[test]
fn pack_then_verify_round_trips_for_every_image_shape() {
    let (_guard, dir) = scratch();
    sluice(&dir, &["keygen", "--keys", "keys"]).success();
    for (name, len, chunks) in [
        ("empty", 0, 0),
        ("one-byte", 1, 1),
        ("one-chunk", CHUNK, 1),
        ("many", 9 * CHUNK + 100, 10),
    ] {
        write_image(&dir, name, len);
        let out = format!("rel-{name}");
        let id = pack(&dir, name, &out, &[]);
        assert_eq!(id.len(), 64, "pack prints the manifest id last: {id}");
        assert_eq!(chunk_files(&dir.join(&out)).len(), chunks, "{name}");
        let run = sluice(&dir, &["release", "verify", &out, "--keys", "keys"]).success();
        assert!(
            run.stdout.starts_with("ok: 1.2.0 for cam-v2"),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains(&id));
        assert_eq!(run.stdout.lines().count(), 1, "one-line summary");
    }
}

#[test]
fn verify_needs_only_the_public_trust_material() {
    let (_guard, dir) = scratch();
    sluice(&dir, &["keygen", "--keys", "keys"]).success();
    write_image(&dir, "img", 3 * CHUNK);
    pack(&dir, "img", "rel", &[]);
    fs::create_dir(dir.join("public")).unwrap();
    for f in ["trust.json", "keys.statement"] {
        fs::copy(dir.join("keys").join(f), dir.join("public").join(f)).unwrap();
    }
    sluice(&dir, &["release", "verify", "rel", "--keys", "public"]).success();
}

#[test]
fn verify_names_the_damaged_chunk() {
    let (_guard, dir) = scratch();
    sluice(&dir, &["keygen", "--keys", "keys"]).success();
    write_image(&dir, "img", 4 * CHUNK);
    pack(&dir, "img", "rel", &[]);
    let files = chunk_files(&dir.join("rel"));
    let victim = &files[2];
    let digest = victim.file_name().unwrap().to_str().unwrap().to_owned();
    let original = fs::read(victim).unwrap();

    let mut flipped = original.clone();
    flipped[100] ^= 0x80;
    fs::write(victim, &flipped).unwrap();
    sluice(&dir, &["release", "verify", "rel", "--keys", "keys"]).failure(&[&digest, "SHA-256"]);

    let mut longer = original.clone();
    longer.push(0);
    fs::write(victim, &longer).unwrap();
    sluice(&dir, &["release", "verify", "rel", "--keys", "keys"]).failure(&[&digest, "longer"]);

    fs::write(victim, &original[..original.len() - 1]).unwrap();
    sluice(&dir, &["release", "verify", "rel", "--keys", "keys"]).failure(&[&digest, "shorter"]);

    fs::remove_file(victim).unwrap();
    sluice(&dir, &["release", "verify", "rel", "--keys", "keys"]).failure(&[&digest, "missing"]);

    fs::write(victim, &original).unwrap();
    sluice(&dir, &["release", "verify", "rel", "--keys", "keys"]).success();
}

#[test]
fn verify_refuses_a_tampered_manifest() {
    let (_guard, dir) = scratch();
    sluice(&dir, &["keygen", "--keys", "keys"]).success();
    write_image(&dir, "img", 2 * CHUNK);
    pack(&dir, "img", "rel", &[]);
    let path = dir.join("rel/manifest");
    let original = fs::read(&path).unwrap();
    for pos in [
        0,
        original.len() / 3,
        original.len() / 2,
        original.len() - 2,
    ] {
        let mut bad = original.clone();
        bad[pos] ^= 0x01;
        fs::write(&path, &bad).unwrap();
        sluice(&dir, &["release", "verify", "rel", "--keys", "keys"]).failure(&["rel/manifest"]);
    }
}

#[test]
fn verify_refuses_a_release_signed_under_another_root() {
    let (_guard, dir) = scratch();
    sluice(&dir, &["keygen", "--keys", "keys"]).success();
    sluice(&dir, &["keygen", "--keys", "other"]).success();
    write_image(&dir, "img", CHUNK);
    pack(&dir, "img", "rel", &[]);
    sluice(&dir, &["release", "verify", "rel", "--keys", "other"])
        .failure(&["not signed by the trust root"]);
}

#[test]
fn a_revoked_signing_key_fails_verification_after_rotation() {
    let (_guard, dir) = scratch();
    sluice(&dir, &["keygen", "--keys", "keys"]).success();
    write_image(&dir, "img", CHUNK);
    pack(&dir, "img", "old", &[]);
    let old_key = sluice(&dir, &["release", "verify", "old", "--keys", "keys"])
        .success()
        .stdout;
    let old_key = old_key.split("signed by key ").nth(1).unwrap()[..16].to_owned();

    // Revoking the current key alone is refused: nothing could sign afterwards.
    sluice(&dir, &["keygen", "--keys", "keys", "--revoke", &old_key]).failure(&["--rotate"]);
    // Rotation alone keeps old releases valid.
    sluice(&dir, &["keygen", "--keys", "keys", "--rotate"]).success();
    sluice(&dir, &["release", "verify", "old", "--keys", "keys"]).success();
    pack(&dir, "img", "new", &[]);
    let run = sluice(&dir, &["release", "verify", "new", "--keys", "keys"]).success();
    assert!(run.stdout.contains("key statement v2"), "{}", run.stdout);
    assert!(!run.stdout.contains(&old_key));
    // Revoking the old key invalidates what it signed, and only that.
    sluice(&dir, &["keygen", "--keys", "keys", "--revoke", &old_key]).success();
    sluice(&dir, &["release", "verify", "old", "--keys", "keys"]).failure(&[&old_key, "revoked"]);
    sluice(&dir, &["release", "verify", "new", "--keys", "keys"]).success();
    assert!(
        dir.join("keys/retired")
            .join(format!("{old_key}.key"))
            .exists()
    );
}

#[test]
fn verify_checks_expiry_hardware_and_security_version() {
    let (_guard, dir) = scratch();
    sluice(&dir, &["keygen", "--keys", "keys"]).success();
    write_image(&dir, "img", CHUNK);
    pack(&dir, "img", "rel", &["--expires-in", "30d"]);
    let verify = |extra: &[&str]| {
        let mut args = vec!["release", "verify", "rel", "--keys", "keys"];
        args.extend_from_slice(extra);
        sluice(&dir, &args)
    };
    verify(&["--at", "2090-01-01T00:00:00Z"]).failure(&["expired"]);
    verify(&["--hardware", "doorbell-v1"]).failure(&["doorbell-v1", "cam-v2"]);
    verify(&["--hardware", "cam-v2", "--security-version", "6"])
        .failure(&["security version 5", "6"]);
    verify(&["--hardware", "cam-v2", "--security-version", "5"]).success();
}

#[test]
fn pack_refuses_bad_input_without_writing_a_manifest() {
    let (_guard, dir) = scratch();
    sluice(&dir, &["keygen", "--keys", "keys"]).success();
    write_image(&dir, "img", CHUNK);
    let base = [
        "release",
        "pack",
        "img",
        "--keys",
        "keys",
        "--security-version",
        "1",
        "--out",
        "rel",
    ];
    let run = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        sluice(&dir, &args)
    };
    run(&["--version", "1.0 beta", "--hardware", "cam"]).failure(&["version"]);
    run(&["--version", "1.0", "--hardware", "cam/../x"]).failure(&["hardware[0]"]);
    run(&["--version", "1.0", "--hardware", "cam", "--chunk-size", "0"]).failure(&["--chunk-size"]);
    assert!(!dir.join("rel/manifest").exists());
    sluice(
        &dir,
        &[
            "release",
            "pack",
            "missing.img",
            "--keys",
            "keys",
            "--version",
            "1",
            "--hardware",
            "x",
            "--security-version",
            "1",
            "--out",
            "rel",
        ],
    )
    .failure(&["missing.img"]);
}

/// `sluice release publish-keys`: the server takes each newer key statement
/// once, refuses an old one, and from then on refuses releases a revoked key
/// signed. `--json` answers a document on stdout alone.
#[test]
fn a_key_statement_reaches_the_server_and_a_revoked_key_publishes_nothing() {
    let (_guard, dir) = scratch();
    release(&dir);
    let host =
        Host::start(HostConfig::sluice(&dir.join("state")).variable("trust_root", &trust(&dir)));
    let on_host = |args: &[&str]| {
        let token_file = host.token_file();
        let mut args = args.to_vec();
        args.extend_from_slice(&["--server", &host.url, "--token-file", &token_file]);
        sluice(&dir, &args)
    };
    let publish_keys = ["release", "publish-keys", "--keys", "keys"];
    let first = on_host(&publish_keys).success();
    assert!(
        first.stdout.contains("key statement version 1"),
        "{}",
        first.stdout
    );
    on_host(&publish_keys).failure(&["409", "already has key statement version 1"]);

    let verified = sluice(
        &dir,
        &["release", "verify", "rel", "--keys", "keys", "--json"],
    )
    .success();
    let verified: Value = serde_json::from_str(&verified.stdout).expect("one JSON document");
    let old_key = verified["signed_by"].as_str().unwrap().to_owned();
    assert_eq!(verified["key_statement_version"], 1, "{verified}");
    let changed = sluice(
        &dir,
        &[
            "keygen", "--keys", "keys", "--rotate", "--revoke", &old_key, "--json",
        ],
    )
    .success();
    let changed: Value = serde_json::from_str(&changed.stdout).expect("one JSON document");
    assert_eq!(changed["key_statement_version"], 2, "{changed}");
    assert_eq!(changed["revoked"], json!([old_key]), "{changed}");
    assert_eq!(changed["retired_key"], old_key.as_str(), "{changed}");

    let second = on_host(&[&publish_keys[..], &["--json"]].concat()).success();
    assert_eq!(
        serde_json::from_str::<Value>(&second.stdout).unwrap(),
        json!({"version": 2})
    );
    on_host(&["release", "publish", "rel", "--json"]).failure(&[&old_key]);
    host.stop();
}
