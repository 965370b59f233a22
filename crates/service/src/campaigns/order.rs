//! A device's fixed place in a campaign's rollout order, which decides the
//! stage (a share of the fleet) at which it is offered the campaign.

use sluice_policy::BUCKETS;
use sluice_protocol::Digest;

/// A device's fixed place in a campaign's rollout order: `0..BUCKETS`.
pub fn bucket(campaign: &str, device: &str) -> u32 {
    let digest = Digest::of(format!("{campaign}\n{device}").as_bytes());
    let b = digest.as_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) % BUCKETS
}
