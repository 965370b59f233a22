//! `sluice up` (in progress).
