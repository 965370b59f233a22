//! World `sluice:policy/upgrade-from-0-1`: imports a 0.1.0 `rollout`,
//! exports a 0.2.0 one. `sluice policy upgrade OLD.wasm` composes it with a
//! 0.1.0 policy component, giving a component the check-in, status and admin
//! components (which import 0.2.0) can be composed with, under `sluice up` and
//! under Spin alike.
//!
//! Every call passes through unchanged (0.2.0's `stats.step` is 0.1.0's
//! `stats.stage`); `describe` validates the configuration and answers `none`:
//! a 0.1.0 policy cannot say what it enforces, so the service shows it as
//! undescribed rather than guessing from its configuration.
//!
//! Built for `wasm32-wasip2` only; there is no native code here.

#[cfg(target_arch = "wasm32")]
mod component;
