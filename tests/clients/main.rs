//! Test binary `clients`: real JS clients against this server (Node.js, npm and Chromium).
//!
//! - `js_clients`: `engine.io-client` 6 and `socket.io-client` 4 in Node;
//! - `legacy_clients`: `socket.io-client` 2, 3 and 4 against the interop app;
//! - `browser`: the interop scenarios in headless Chromium;
//! - `chat_browser`: the chat example in headless Chromium;
//! - `admin_ui`: the Admin UI instrumentation, with the real UI in Chromium and against Node's.
//!
//! Run alone with `scripts/test clients`. The support tree is shared by every test binary.

#[path = "../support/mod.rs"]
mod support;

#[cfg(feature = "admin-ui")]
mod admin_ui;
mod browser;
mod chat_browser;
mod js_clients;
mod legacy_clients;
