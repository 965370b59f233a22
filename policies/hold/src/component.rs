//! The `hold` policy exported as `sluice:policy/rollout`.

use sluice_policy::{Decision, Policy};

use crate::Hold;

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "sluice:policy/policy",
    });
}

use bindings::exports::sluice::policy::rollout as types;
use bindings::exports::sluice::policy::rollout::Guest;

struct Component;

impl Guest for Component {
    fn validate(config: String) -> Result<(), String> {
        Hold.validate(&config)
    }

    fn decide(_: types::Device, _: types::Campaign, _: types::Stats, _: u64) -> types::Decision {
        match Hold.decide(
            &Default::default(),
            &Default::default(),
            &Default::default(),
            0,
        ) {
            Decision::Defer { seconds, reason } => {
                types::Decision::Defer(types::Deferral { seconds, reason })
            }
            _ => types::Decision::Skip("all updates are on hold".into()),
        }
    }

    fn review(_: types::Campaign, _: types::Stats, _: u64) -> types::Verdict {
        types::Verdict::Proceed
    }
}

bindings::export!(Component with_types_in bindings);
