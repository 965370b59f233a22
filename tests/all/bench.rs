//! `sluice bench`, briefly: every figure is produced (their values are for the
//! README, never asserted here).

use crate::support::cli::{scratch, sluice};
use crate::support::host::root;

#[test]
fn the_benchmark_measures_every_figure_without_errors() {
    let (_guard, dir) = scratch();
    let manifest = root().join("spin.toml");
    let run = sluice(
        &dir,
        &[
            "bench",
            "-f",
            manifest.to_str().unwrap(),
            "--devices",
            "1000",
            "--no-million",
            "--connections",
            "4",
            // Two seconds a figure: hosts of other tests compile their
            // components meanwhile, and a 1 s window once recorded nothing.
            "--duration",
            "2s",
            "--overload-connections",
            "64",
            "--json",
        ],
    )
    .success();
    let report: serde_json::Value = serde_json::from_str(run.last_line()).unwrap();
    for key in [
        "checkin_rps",
        "native_checkin_rps",
        "hello_rps",
        "chunk_mbps",
        "chunk_default_mbps",
        "checkin_p50_ms",
        "checkin_p99_ms",
        "checkin_p50_1k_ms",
        "bytes_per_device",
        "bytes_per_campaign",
    ] {
        assert!(report[key].as_f64().unwrap_or(0.0) > 0.0, "{key}: {report}");
    }
    for key in [
        "wasmtime_serve_hello_rps",
        "nginx_mbps",
        "checkin_p50_1m_ms",
    ] {
        assert!(report.get(key).is_some(), "{key} missing: {report}");
    }
    assert_eq!(report["checkin_errors"], 0, "{report}");
    assert_eq!(
        report["overload_errors"], 0,
        "shed with 503 or served, never failed: {report}"
    );
    assert!(
        report["overload_served_rps"].as_f64().unwrap_or(0.0) > 0.0,
        "{report}"
    );
}
