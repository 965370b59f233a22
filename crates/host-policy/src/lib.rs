//! A `sluice:policy/policy` component as a native [`Policy`]: loads it with
//! wasmtime, gives it an empty WASI (no files, no network, no environment) and
//! calls its exports. `sluice policy simulate` runs vendors' policies through
//! this, so what it measures is the component itself, not a Rust twin.
//!
//! One instance serves every call, which is sound for what the contract asks of
//! a policy: a pure function with no state between calls. Each call gets a fuel
//! budget, so a policy that loops forever fails instead of hanging; a call that
//! fails answers `Halt` (decide and review) or an error (validate), so a broken
//! policy stops a campaign rather than letting it run unchecked, and the next
//! call gets a fresh instance.
//!
//! ```no_run
//! use sluice_policy::{Campaign, Device, Policy, Stats};
//! let policy = sluice_host_policy::WasmPolicy::load("sluice_policy_standard.wasm".as_ref())?;
//! let decision = policy.decide(&Device::default(), &Campaign::default(), &Stats::default(), 0);
//! # Ok::<(), sluice_host_policy::Error>(())
//! ```

use std::path::Path;
use std::sync::Mutex;

use sluice_policy::schedule::{Blackout, Window};
use sluice_policy::{
    Campaign, Decision, Description, Device, FailureGate, OutcomeCounts, Policy, RateTest, Stats,
    Verdict,
};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "sluice:policy/policy@0.2.0",
    });
}

use bindings::exports::sluice::policy0_2_0::rollout as wit;

/// Fuel for one call: far more than any sane policy needs, far less than forever.
pub const FUEL_PER_CALL: u64 = 2_000_000_000;

/// Why a policy component cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a usable policy component: {reason}")]
    Invalid { path: String, reason: String },
}

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct Loaded {
    store: Store<State>,
    policy: bindings::Policy,
    component: Component,
    linker: Linker<State>,
}

/// A fresh store and instance (after a trap, wasmtime will not enter the old
/// instance again).
fn instantiate(
    engine: &Engine,
    component: &Component,
    linker: &Linker<State>,
) -> wasmtime::Result<(Store<State>, bindings::Policy)> {
    let mut store = Store::new(
        engine,
        State {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        },
    );
    store.set_fuel(FUEL_PER_CALL)?;
    let policy = bindings::Policy::instantiate(&mut store, component, linker)?;
    Ok((store, policy))
}

/// A loaded policy component.
pub struct WasmPolicy {
    loaded: Mutex<Loaded>,
}

impl WasmPolicy {
    /// Loads and instantiates the component at `path`.
    pub fn load(path: &Path) -> Result<WasmPolicy, Error> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: shown.clone(),
            source,
        })?;
        let invalid = |reason: String| Error::Invalid {
            path: shown.clone(),
            reason,
        };
        let mut config = Config::new();
        config.wasm_component_model(true).consume_fuel(true);
        let engine = Engine::new(&config).map_err(|e| invalid(format!("{e:#}")))?;
        let component = Component::new(&engine, &bytes).map_err(|e| invalid(format!("{e:#}")))?;
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| invalid(format!("{e:#}")))?;
        let (store, policy) = instantiate(&engine, &component, &linker).map_err(|e| {
            let before_0_2 = component
                .component_type()
                .exports(&engine)
                .any(|(name, _)| name == "sluice:policy/rollout@0.1.0");
            invalid(if before_0_2 {
                "it is a sluice:policy 0.1.0 policy: make it a 0.2.0 one with `sluice policy upgrade`"
                    .to_owned()
            } else {
                format!("{e:#}")
            })
        })?;
        Ok(WasmPolicy {
            loaded: Mutex::new(Loaded {
                store,
                policy,
                component,
                linker,
            }),
        })
    }

    fn call<T>(
        &self,
        f: impl FnOnce(&wit::Guest, &mut Store<State>) -> wasmtime::Result<T>,
    ) -> Result<T, String> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        let Loaded {
            store,
            policy,
            component,
            linker,
        } = &mut *loaded;
        store
            .set_fuel(FUEL_PER_CALL)
            .map_err(|e| format!("{e:#}"))?;
        let result = f(policy.sluice_policy0_2_0_rollout(), store);
        if result.is_err() {
            // After a trap wasmtime will not enter the instance again: the next
            // call gets a fresh one, as the next request would.
            let engine = store.engine().clone();
            if let Ok((fresh_store, fresh_policy)) = instantiate(&engine, component, linker) {
                *store = fresh_store;
                *policy = fresh_policy;
            }
        }
        result.map_err(|e| format!("the policy failed: {e:#}"))
    }
}

impl Policy for WasmPolicy {
    fn validate(&self, config: &str) -> Result<(), String> {
        self.call(|p, s| p.call_validate(s, config))?
    }

    fn describe(&self, config: &str) -> Result<Option<Description>, String> {
        Ok(self
            .call(|p, s| p.call_describe(s, config))??
            .map(description_from_wit))
    }

    fn decide(&self, device: &Device, campaign: &Campaign, stats: &Stats, now: u64) -> Decision {
        let answer = self.call(|p, s| {
            p.call_decide(
                s,
                &device_to_wit(device),
                &campaign_to_wit(campaign),
                stats_to_wit(stats),
                now,
            )
        });
        match answer {
            Ok(wit::Decision::Offer) => Decision::Offer,
            Ok(wit::Decision::Defer(d)) => Decision::Defer {
                seconds: d.seconds,
                reason: d.reason,
            },
            Ok(wit::Decision::Skip(reason)) => Decision::Skip(reason),
            Ok(wit::Decision::Halt(reason)) | Err(reason) => Decision::Halt(reason),
        }
    }

    fn review(&self, campaign: &Campaign, stats: &Stats, now: u64) -> Verdict {
        match self
            .call(|p, s| p.call_review(s, &campaign_to_wit(campaign), stats_to_wit(stats), now))
        {
            Ok(wit::Verdict::Proceed) => Verdict::Proceed,
            Ok(wit::Verdict::Advance(stage)) => Verdict::Advance(stage),
            Ok(wit::Verdict::Complete) => Verdict::Complete,
            Ok(wit::Verdict::Halt(reason)) | Err(reason) => Verdict::Halt(reason),
            Ok(wit::Verdict::Rollback(reason)) => Verdict::Rollback(reason),
        }
    }
}

fn device_to_wit(d: &Device) -> wit::Device {
    wit::Device {
        id: d.id.clone(),
        hardware: d.hardware.clone(),
        version: d.version.clone(),
        tags: d.tags.clone(),
        bucket: d.bucket,
        battery_percent: d.battery_percent,
        charging: d.charging,
        utc_offset_minutes: d.utc_offset_minutes,
        network: d.network.clone(),
    }
}

fn campaign_to_wit(c: &Campaign) -> wit::Campaign {
    wit::Campaign {
        id: c.id.clone(),
        release: c.release.clone(),
        config: c.config.clone(),
        critical: c.critical,
        created_at: c.created_at,
        stage: c.stage,
        stage_started_at: c.stage_started_at,
    }
}

fn counts_to_wit(c: &OutcomeCounts) -> wit::OutcomeCounts {
    wit::OutcomeCounts {
        offered: c.offered,
        succeeded: c.succeeded,
        failed: c.failed,
        rolled_back: c.rolled_back,
        rejected: c.rejected,
    }
}

fn stats_to_wit(s: &Stats) -> wit::Stats {
    let h = &s.health;
    wit::Stats {
        total: counts_to_wit(&s.total),
        step: counts_to_wit(&s.step),
        in_flight: s.in_flight,
        health: wit::HealthStats {
            devices: h.devices,
            reboots_before: h.reboots_before,
            reboots_after: h.reboots_after,
            crashes_before: h.crashes_before,
            crashes_after: h.crashes_after,
            metric_before: h.metric_before,
            metric_after: h.metric_after,
        },
    }
}

fn description_from_wit(d: wit::Description) -> Description {
    Description {
        failures: d.failures.map(|f| FailureGate {
            max_rate: f.max_rate,
            min_sample: f.min_sample,
            test: match f.test {
                wit::RateTest::Observed => RateTest::Observed,
                wit::RateTest::Wilson(confidence) => RateTest::Wilson(confidence),
            },
            counts_rejected: f.counts_rejected,
            counts_rolled_back: f.counts_rolled_back,
        }),
        windows: d
            .windows
            .into_iter()
            // Minutes past the end of a day are read as its end and days
            // past Sunday dropped, so no window runs longer than a day.
            .map(|w| Window {
                days: w
                    .days
                    .into_iter()
                    .filter(|d| *d < 7)
                    .map(u32::from)
                    .collect(),
                start: u32::from(w.start_minute.min(1440)),
                end: u32::from(w.end_minute.min(1440)),
            })
            .collect(),
        blackouts: d
            .blackouts
            .into_iter()
            .map(|b| Blackout {
                start: i64::try_from(b.start).unwrap_or(i64::MAX),
                end: i64::try_from(b.end).unwrap_or(i64::MAX),
                reason: b.reason,
            })
            .collect(),
        max_in_flight: d.max_in_flight,
    }
}
