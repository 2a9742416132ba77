//! Test binary `recovery`: connection state recovery.
//!
//! - `recovery`: the recovery scenarios with the real client, in Node and in Chromium;
//! - `recovery_race`: recovery racing with broadcasts to the session being recovered;
//! - `recovery_slow_consumer`: a recovered session whose reader does not keep up.
//!
//! The heap measurements are in their own binary, `tests/recovery_memory.rs`.
//! Run alone with `scripts/test recovery`. The support tree is shared by every test binary.

#[path = "../support/mod.rs"]
mod support;

mod recovery;
mod recovery_race;
mod recovery_slow_consumer;
