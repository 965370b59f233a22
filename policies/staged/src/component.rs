//! The `staged` policy exported as `sluice:policy/rollout`.

sluice_policy_guest::export_policy!(crate::Staged);
