//! Test binary `hostile`: hostile input and load.
//!
//! - `hostile_input`: hostile input, class by class, over real TCP;
//! - `soak`: connection churn, then memory, tasks and sessions back to their baseline.
//!
//! The tests that measure the process's memory hold `support::stress::HEAVY`, so that under
//! `cargo test` (one process for the binary) they do not disturb each other's readings.
//! Run alone with `scripts/test hostile`. The support tree is shared by every test binary.

#[path = "../support/mod.rs"]
mod support;

mod hostile_input;
mod soak;
