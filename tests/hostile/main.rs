//! Test binary `hostile`: hostile input and load.
//!
//! - `hostile_input`: hostile input, class by class, over real TCP;
//! - `soak`: connection churn, then memory, tasks and sessions back to their baseline.
//!
//! Run alone with `scripts/test hostile`. The support tree is shared by every test binary.

#[path = "../support/mod.rs"]
mod support;

mod hostile_input;
mod soak;
