//! Valid inputs for each target, for the fuzzer to start from.

use serde_json::json;
use sluice_protocol::encode_statement_file;

use crate::World;

/// A named seed input.
pub type Seed = (&'static str, Vec<u8>);

/// `(target, seeds)` for every target.
pub fn all() -> Vec<(&'static str, Vec<Seed>)> {
    let world = World::get();
    let text = |value: serde_json::Value| value.to_string().into_bytes();
    let prefixed = |which: u8, value: serde_json::Value| {
        let mut bytes = vec![which];
        bytes.extend(value.to_string().into_bytes());
        bytes
    };
    vec![
        ("manifest", vec![("release", world.manifest.clone())]),
        ("key_statement", vec![("statement", encode_statement_file(&world.statement))]),
        ("trust_root", vec![("trust", world.trust.to_json())]),
        (
            "checkin",
            vec![
                ("poll", text(json!({"hardware": "cam-v2", "version": "1.0", "security_version": 1}))),
                (
                    "telemetry",
                    text(json!({"hardware": "cam-v2", "version": "1.0", "security_version": 1,
                        "tags": ["lab"], "telemetry": {"battery_percent": 80, "utc_offset_minutes": 60}})),
                ),
            ],
        ),
        (
            "status",
            vec![
                ("downloading", text(json!({"campaign": "c1", "state": "downloading"}))),
                (
                    "failed",
                    text(json!({"campaign": "c1", "state": "failed",
                        "error": {"phase": "boot", "code": "E_BOOT", "detail": "kernel panic"}})),
                ),
                ("health", text(json!({"campaign": "c1", "state": "health", "health": {"crashes": 1}}))),
            ],
        ),
        (
            "admin",
            vec![
                (
                    "campaign",
                    prefixed(0, json!({"release": "2.0", "policy": {"stages": [{"percent": 10}, {"percent": 100}]},
                        "selector": {"tags": ["site:lab"]}, "rings": [{"name": "lab", "devices": ["cam-1"]}]})),
                ),
                (
                    "freeze",
                    prefixed(1, json!({"reason": "launch", "start": 1_800_003_600u64, "end": 1_800_007_200u64,
                        "lead_seconds": 600, "selector": {"tags": ["site:lab"]}})),
                ),
                ("enrol", prefixed(2, json!({"devices": [{"id": "cam-9", "hardware": "cam-v2"}]}))),
                ("statement", {
                    let mut bytes = vec![3];
                    bytes.extend(encode_statement_file(&world.statement));
                    bytes
                }),
                ("approve", prefixed(5, json!({"note": "lab looks fine"}))),
                ("override", prefixed(6, json!({"freeze": "f1", "reason": "CVE fix"}))),
                ("revoke", prefixed(7, json!({"reason": "stolen"}))),
                ("operator", prefixed(10, json!({"name": "ci", "roles": ["release-manager"], "expires_in_seconds": 3600}))),
                ("confirm-override", prefixed(11, json!({"freeze": "f1"}))),
                ("four-eyes", prefixed(12, json!({"required": false, "reason": "lab"}))),
                ("confirm-lift", prefixed(13, json!({}))),
                ("audit", {
                    let mut bytes = vec![9];
                    bytes.extend(b"after=0&limit=5");
                    bytes
                }),
            ],
        ),
        (
            "ddi",
            vec![
                (
                    "feedback",
                    prefixed(0, json!({"status": {"execution": "closed", "result": {"finished": "success"},
                        "details": ["installed"]}})),
                ),
                ("config", prefixed(1, json!({"mode": "merge", "data": {"serial": "A1"}}))),
                (
                    "cancel",
                    prefixed(2, json!({"status": {"execution": "closed", "result": {"finished": "success"}}})),
                ),
            ],
        ),
        ("range", vec![("two", {
            let mut bytes = 3000u64.to_le_bytes().to_vec();
            bytes.extend(b"bytes=0-99, 2900-");
            bytes
        })]),
        (
            "spin_toml",
            vec![("sluice", include_bytes!("../../../spin.toml").to_vec())],
        ),
        (
            "runtime_config",
            vec![(
                "stores",
                b"state_dir = \"state\"\n[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n[key_value_store.cache]\ntype = \"spin\"\npath = \"cache.db\"\n".to_vec(),
            )],
        ),
    ]
}
