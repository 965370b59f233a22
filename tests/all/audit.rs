//! `sluice audit verify|export` against a real host: an intact log verifies,
//! and an entry edited, two entries swapped or one deleted in the store behind
//! the server's back are each found, by name.

use serde_json::json;

use crate::support::app::admin;
use crate::support::cli::{Run, scratch, sluice};
use crate::support::host::{Host, HostConfig};

/// The store `sluice up` keeps in its state directory, opened beside it.
struct Tamper {
    db: sluice_key_value_sqlite::Database,
    runtime: tokio::runtime::Runtime,
}

impl Tamper {
    fn open(host: &Host) -> Tamper {
        let db = sluice_key_value_sqlite::Database::open(Some(
            &host.state_dir.join("sqlite_key_value.db"),
        ))
        .unwrap();
        Tamper {
            db,
            runtime: tokio::runtime::Runtime::new().unwrap(),
        }
    }
    fn get(&self, seq: i64) -> Vec<u8> {
        let key = sluice_service::kernel::keys::audit(seq);
        self.runtime
            .block_on(self.db.store("default").get(&key))
            .unwrap()
            .unwrap()
    }
    fn set(&self, seq: i64, value: &[u8]) {
        let key = sluice_service::kernel::keys::audit(seq);
        self.runtime
            .block_on(self.db.store("default").set(&key, value))
            .unwrap()
    }
    fn delete(&self, seq: i64) {
        let key = sluice_service::kernel::keys::audit(seq);
        self.runtime
            .block_on(self.db.store("default").delete(&key))
            .unwrap()
    }
}

#[test]
fn audit_verify_finds_an_edited_a_swapped_and_a_deleted_entry() {
    let (_guard, dir) = scratch();
    let host = Host::start(HostConfig::sluice(&dir.join("state")));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Five audited actions.
    for i in 0..3u64 {
        let freeze = json!({"reason": format!("launch {i}"), "start": now + 86_400 * (i + 1), "end": now + 86_400 * (i + 1) + 3600});
        assert_eq!(
            admin(&host, "POST", "/v1/admin/freezes", Some(freeze)).status,
            201
        );
    }
    for id in ["f1", "f2"] {
        let answer = admin(&host, "DELETE", &format!("/v1/admin/freezes/{id}"), None);
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    let token = host.token_file();
    let verify = |extra: &[&str]| -> Run {
        let mut args = vec![
            "audit",
            "verify",
            "--server",
            &host.url,
            "--token-file",
            &token,
        ];
        args.extend_from_slice(extra);
        sluice(&dir, &args)
    };
    let intact = verify(&[]).success();
    assert!(intact.stdout.contains("ok: 5 entries"), "{}", intact.stdout);
    let anchor = intact
        .last_line()
        .trim()
        .strip_prefix("--anchor ")
        .unwrap()
        .to_owned();
    assert!(anchor.starts_with("5:"), "{anchor}");

    let store = Tamper::open(&host);
    let (two, three) = (store.get(2), store.get(3));

    // Edited: entry 2 now says someone else did it.
    let text = String::from_utf8(two.clone()).unwrap();
    let edited = text.replacen("\"actor\":\"owner", "\"actor\":\"mallory", 1);
    assert_ne!(edited, text);
    store.set(2, edited.as_bytes());
    verify(&[]).failure(&[
        "entry 3 does not follow the entry before it",
        "changed outside Sluice",
    ]);
    store.set(2, &two);
    verify(&["--anchor", &anchor]).success();

    // Swapped: entries 2 and 3 trade places.
    store.set(2, &three);
    store.set(3, &two);
    verify(&[]).failure(&[
        "entry 3 is stored at position 2",
        "entry 2 is stored at position 3",
    ]);
    store.set(2, &two);
    store.set(3, &three);

    // Deleted: entry 4, then the last one.
    let four = store.get(4);
    store.delete(4);
    verify(&[]).failure(&["entry 4 is missing"]);
    store.set(4, &four);
    let five = store.get(5);
    store.delete(5);
    verify(&[]).failure(&["the log's head names entry 5"]);
    store.set(5, &five);

    // An export verifies on its own, and an edit to it is found too.
    let export = dir.join("audit.jsonl");
    let export_arg = export.to_string_lossy().into_owned();
    sluice(
        &dir,
        &[
            "audit",
            "export",
            "--server",
            &host.url,
            "--token-file",
            &token,
            "-o",
            &export_arg,
        ],
    )
    .success();
    let lines = std::fs::read_to_string(&export).unwrap();
    assert_eq!(lines.lines().count(), 5);
    sluice(
        &dir,
        &[
            "audit",
            "verify",
            "--file",
            &export_arg,
            "--anchor",
            &anchor,
        ],
    )
    .success();
    std::fs::write(&export, lines.replacen("launch 1", "launch 9", 1)).unwrap();
    sluice(&dir, &["audit", "verify", "--file", &export_arg])
        .failure(&["does not follow the entry before it"]);
    host.stop();
}
