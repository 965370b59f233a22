//! The simulated devices: where they are (UTC offset), what powers them, how
//! long their installs take and whether the release fails on them, all drawn
//! deterministically from the scenario's seed.

use sluice_policy::Device;
use sluice_protocol::Digest;
use sluice_service::campaigns::order::bucket;

use crate::{CAMPAIGN_ID, Scenario};

/// One simulated device.
#[derive(Clone, Debug)]
pub struct SimDevice {
    pub id: String,
    pub bucket: u32,
    pub utc_offset_minutes: i16,
    /// `None` for mains-powered devices.
    pub battery_percent: Option<u8>,
    /// The stage it was offered in.
    pub stage: u32,
    seed: u64,
    checkins: u64,
}

/// A deterministic fraction in [0, 1) for (`seed`, `salt`).
fn fraction(seed: u64, salt: u64) -> f64 {
    let mut x = seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl SimDevice {
    pub fn new(index: usize, scenario: &Scenario) -> SimDevice {
        let id = format!("dev-{index}");
        let digest = Digest::of(format!("{}\n{id}", scenario.seed).as_bytes());
        let b = digest.as_bytes();
        let seed = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let offsets = &scenario.utc_offsets;
        let utc_offset_minutes = if offsets.is_empty() {
            0
        } else {
            offsets[(fraction(seed, 1) * offsets.len() as f64) as usize % offsets.len()]
        };
        let battery_percent = (fraction(seed, 2) < scenario.battery_share)
            .then(|| (5.0 + fraction(seed, 3) * 95.0) as u8);
        SimDevice {
            bucket: bucket(CAMPAIGN_ID, &id),
            id,
            utc_offset_minutes,
            battery_percent,
            stage: 0,
            seed,
            checkins: 0,
        }
    }

    /// Where in each poll period this device polls.
    pub fn phase(&self, poll: u64) -> u64 {
        (fraction(self.seed, 4) * poll as f64) as u64
    }

    /// The device as the policy sees it at a check-in.
    pub fn view(&mut self, _now: u64, scenario: &Scenario) -> Device {
        self.checkins += 1;
        let charging = self
            .battery_percent
            .map(|_| fraction(self.seed, 100 + self.checkins) < scenario.charging_share);
        Device {
            id: self.id.clone(),
            hardware: "sim".into(),
            version: "1.0.0".into(),
            tags: Vec::new(),
            bucket: self.bucket,
            battery_percent: self.battery_percent,
            charging,
            utc_offset_minutes: Some(self.utc_offset_minutes),
            network: None,
        }
    }

    pub fn install_seconds(&self, scenario: &Scenario) -> u64 {
        let (low, high) = scenario.install_seconds;
        let (low, high) = (u64::from(low.min(high)), u64::from(high.max(low)));
        low + (fraction(self.seed, 5) * (high - low) as f64) as u64
    }

    pub fn fails(&self, scenario: &Scenario) -> bool {
        fraction(self.seed, 6) < scenario.fail_rate
    }
}
