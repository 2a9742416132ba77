//! Test binary `engine`: Engine.IO and serving.
//!
//! - `engine_io`: black-box Engine.IO v4 conformance against the conformance server;
//! - `engine_options`: Engine.IO options, each on a server built for it;
//! - `standalone`: `SocketIo::serve` without a router of one's own;
//! - `framework_examples`: the hyper and `ServiceBuilder` examples with the real client.
//!
//! Run alone with `scripts/test engine`. The support tree is shared by every test binary.

#[path = "../support/mod.rs"]
mod support;

mod engine_io;
mod engine_options;
mod framework_examples;
mod standalone;
