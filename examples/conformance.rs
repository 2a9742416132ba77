//! Placeholder: replaced by the real conformance server as the engine lands.
#![allow(dead_code)]

/// The conformance application.
pub fn app() -> axum::Router {
    axum::Router::new()
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    println!("listening");
    axum::serve(listener, app()).await.unwrap();
}
