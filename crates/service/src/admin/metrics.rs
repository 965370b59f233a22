//! `GET /metrics`: the fleet's counters in the Prometheus text exposition
//! format (version 0.0.4), for operators who already run Prometheus and Grafana.
//!
//! It is an admin route: the scraper sends an operator token with the
//! `monitor` role (scope `metrics:read` and nothing else) as a bearer token
//! (`authorization: {credentials_file: ...}` in a Prometheus scrape config). A
//! scrape reads the counters the service keeps anyway, in a few round trips
//! per campaign and never by scanning devices.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `sluice_checkins_total` | counter | |
//! | `sluice_status_reports_total` | counter | `phase` |
//! | `sluice_deferrals_total` | counter | `campaign`, `reason` (a [`sluice_policy::DEFER_CATEGORIES`] name) |
//! | `sluice_campaign_devices_total` | counter | `campaign`, `outcome` (offered, succeeded, failed, rolled_back, rejected) |
//! | `sluice_campaign_failures_total` | counter | `campaign`, `code` |
//! | `sluice_campaign_in_flight` | gauge | `campaign` |
//! | `sluice_campaign_step` | gauge | `campaign` (pilot rings first, then stages) |
//! | `sluice_campaign_state` | gauge | `campaign`, `state` (1 for the current state, 0 for the others) |
//! | `sluice_campaign_halted` | gauge | `campaign` (1 while halted by the policy: alert on it) |
//! | `sluice_devices` | gauge | `version` |
//! | `sluice_audit_entries` | gauge | |

use std::fmt::Write;

use sluice_policy::DEFER_CATEGORIES;

use crate::campaigns::campaign::{self, CampaignRecord, CampaignState};
use crate::kernel::http::{ApiError, Response};
use crate::kernel::service::Service;
use crate::{kernel::counters, kernel::keys, kernel::records, ops::audit};
use sluice_api::status::Phase;

/// The media type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The phases a status report may move a device to.
const REPORTED_PHASES: [Phase; 8] = [
    Phase::Downloading,
    Phase::Downloaded,
    Phase::Installing,
    Phase::Rebooting,
    Phase::Succeeded,
    Phase::Failed,
    Phase::RolledBack,
    Phase::Rejected,
];

const CAMPAIGN_STATES: [CampaignState; 7] = [
    CampaignState::Running,
    CampaignState::Paused,
    CampaignState::Halted,
    CampaignState::Aborted,
    CampaignState::RolledBack,
    CampaignState::Completed,
    CampaignState::Ended,
];

/// Answers `GET /metrics` (once [`crate::admin::authorize`] let it through).
pub fn answer(svc: &Service) -> Result<Response, ApiError> {
    Ok(Response {
        status: 200,
        headers: vec![("content-type".into(), CONTENT_TYPE.into())],
        body: render(svc)?.into_bytes(),
    })
}

/// Everything one campaign contributes.
struct CampaignFigures {
    record: CampaignRecord,
    stats: sluice_policy::Stats,
    deferrals: Vec<i64>,
    failures: Vec<(String, i64)>,
}

/// The exposition of the fleet's metrics as they stand.
pub fn render(svc: &Service) -> Result<String, ApiError> {
    let now = svc.env.now();
    let lists = [
        keys::CAMPAIGN_INDEX.to_owned(),
        keys::VERSION_INDEX.to_owned(),
    ];
    let values = svc.store.get_many(&lists)?;
    let campaign_ids: Vec<String> =
        records::decode_opt(&lists[0], values[0].as_ref())?.unwrap_or_default();
    let versions: Vec<String> =
        records::decode_opt(&lists[1], values[1].as_ref())?.unwrap_or_default();

    let mut record_keys: Vec<String> = campaign_ids.iter().map(|id| keys::campaign(id)).collect();
    record_keys.extend(campaign_ids.iter().map(|id| keys::failure_codes(id)));
    let values = svc.store.get_many(&record_keys)?;
    let (record_values, code_values) = values.split_at(campaign_ids.len());

    let mut campaigns = Vec::new();
    let mut counter_keys: Vec<String> = vec![counters::CHECKINS.to_owned()];
    counter_keys.extend(
        REPORTED_PHASES
            .iter()
            .map(|p| counters::report_key(p.as_str())),
    );
    counter_keys.extend(versions.iter().map(|v| counters::version_key(v)));
    for ((key, record), codes) in record_keys.iter().zip(record_values).zip(code_values) {
        let Some(record) = records::decode_opt::<CampaignRecord>(key, record.as_ref())? else {
            continue;
        };
        let record = campaign::follow_schedule(svc, &record, now)?;
        let codes: Vec<String> =
            records::decode_opt(&keys::failure_codes(&record.id), codes.as_ref())?
                .unwrap_or_default();
        counter_keys.extend(
            DEFER_CATEGORIES
                .iter()
                .map(|c| counters::deferral_key(&record.id, c)),
        );
        counter_keys.extend(codes.iter().map(|c| counters::failure_key(&record.id, c)));
        let stats = counters::read_stats(svc.store, &record.id, record.step_index(), now)?;
        campaigns.push(CampaignFigures {
            record,
            stats,
            deferrals: Vec::new(),
            failures: codes.into_iter().map(|c| (c, 0)).collect(),
        });
    }
    let values = svc.store.counters(&counter_keys)?;
    let mut values = values.into_iter();
    let mut next = || values.next().unwrap_or(0);
    let checkins = next();
    let reports: Vec<i64> = REPORTED_PHASES.iter().map(|_| next()).collect();
    let version_counts: Vec<i64> = versions.iter().map(|_| next()).collect();
    for figures in &mut campaigns {
        figures.deferrals = DEFER_CATEGORIES.iter().map(|_| next()).collect();
        for (_, count) in &mut figures.failures {
            *count = next();
        }
    }
    let audit_entries = audit::head(svc.store)?.seq;

    let mut out = Exposition::default();
    out.family(
        "sluice_checkins_total",
        "counter",
        "Device check-ins (native and hawkBit DDI polls).",
    );
    out.sample("sluice_checkins_total", &[], checkins);

    out.family(
        "sluice_status_reports_total",
        "counter",
        "Status reports that moved a device's rollout, by the phase reported.",
    );
    for (phase, count) in REPORTED_PHASES.iter().zip(&reports) {
        out.sample(
            "sluice_status_reports_total",
            &[("phase", phase.as_str())],
            *count,
        );
    }

    out.family(
        "sluice_deferrals_total",
        "counter",
        "Check-ins a campaign deferred, by the reason's category.",
    );
    for figures in &campaigns {
        for (category, count) in DEFER_CATEGORIES.iter().zip(&figures.deferrals) {
            out.sample(
                "sluice_deferrals_total",
                &[("campaign", &figures.record.id), ("reason", category)],
                *count,
            );
        }
    }

    out.family(
        "sluice_campaign_devices_total",
        "counter",
        "Devices per outcome over a whole campaign.",
    );
    for figures in &campaigns {
        let total = figures.stats.total;
        for (outcome, count) in [
            ("offered", total.offered),
            ("succeeded", total.succeeded),
            ("failed", total.failed),
            ("rolled_back", total.rolled_back),
            ("rejected", total.rejected),
        ] {
            out.sample(
                "sluice_campaign_devices_total",
                &[("campaign", &figures.record.id), ("outcome", outcome)],
                count as i64,
            );
        }
    }

    out.family(
        "sluice_campaign_failures_total",
        "counter",
        "Failed or rejected updates in a campaign, by the device's error code.",
    );
    for figures in &campaigns {
        for (code, count) in &figures.failures {
            out.sample(
                "sluice_campaign_failures_total",
                &[("campaign", &figures.record.id), ("code", code)],
                *count,
            );
        }
    }

    out.family(
        "sluice_campaign_in_flight",
        "gauge",
        "Devices offered a campaign and not finished (within the in-flight lease).",
    );
    for figures in &campaigns {
        out.per_campaign(
            "sluice_campaign_in_flight",
            figures,
            figures.stats.in_flight as i64,
        );
    }

    out.family(
        "sluice_campaign_step",
        "gauge",
        "The step a campaign has reached: pilot rings first, then percentage stages.",
    );
    for figures in &campaigns {
        let step = i64::from(figures.record.step_index());
        out.per_campaign("sluice_campaign_step", figures, step);
    }

    out.family(
        "sluice_campaign_state",
        "gauge",
        "1 for the state a campaign is in, 0 for the others.",
    );
    for figures in &campaigns {
        for state in CAMPAIGN_STATES {
            out.sample(
                "sluice_campaign_state",
                &[("campaign", &figures.record.id), ("state", state.as_str())],
                i64::from(figures.record.state == state),
            );
        }
    }

    out.family(
        "sluice_campaign_halted",
        "gauge",
        "1 while the rollout policy has halted a campaign (failures rose).",
    );
    for figures in &campaigns {
        let halted = i64::from(figures.record.state == CampaignState::Halted);
        out.per_campaign("sluice_campaign_halted", figures, halted);
    }

    out.family(
        "sluice_devices",
        "gauge",
        "Devices running a version, as last reported.",
    );
    for (version, count) in versions.iter().zip(&version_counts) {
        out.sample("sluice_devices", &[("version", version)], *count);
    }

    out.family("sluice_audit_entries", "gauge", "Entries in the audit log.");
    out.sample("sluice_audit_entries", &[], audit_entries);
    Ok(out.text)
}

/// The text being written.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn per_campaign(&mut self, name: &str, figures: &CampaignFigures, value: i64) {
        self.sample(name, &[("campaign", &figures.record.id)], value);
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: i64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// A label value as the format quotes it: backslash, double quote and line
/// feed escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Help text as the format writes it: backslash and line feed escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = Exposition::default();
        out.sample("m", &[("a", "x\"y\\z\nw"), ("b", "plain")], -3);
        assert_eq!(out.text, "m{a=\"x\\\"y\\\\z\\nw\",b=\"plain\"} -3\n");
    }

    #[test]
    fn a_family_has_help_and_type() {
        let mut out = Exposition::default();
        out.family("m_total", "counter", "Things\\counted.");
        out.sample("m_total", &[], 7);
        assert_eq!(
            out.text,
            "# HELP m_total Things\\\\counted.\n# TYPE m_total counter\nm_total 7\n"
        );
    }
}
