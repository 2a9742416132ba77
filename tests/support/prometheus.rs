//! Reading the `metrics` feature's output through Prometheus' exporter, installed as the
//! process's recorder (once: a recorder is global).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The recorder of this process, installed on first use: before any server is built, since a
/// server looks its handles up once.
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .install_recorder()
            .expect("the only recorder of this process");
        tower_socketio::metrics::describe();
        handle
    })
}

/// The value of the sample `name{labels}` in rendered text (labels as rendered, e.g.
/// `namespace="/"`, or empty), or 0 when it was never recorded.
pub fn sample(text: &str, name: &str, labels: &str) -> f64 {
    let key = if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{labels}}}")
    };
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find_map(|(k, v)| (k == key).then(|| v.parse().ok()).flatten())
        .unwrap_or(0.0)
}

/// Waits until `check` holds on the rendered metrics (recording can trail the wire by a task
/// switch) and returns the text; panics with the text after `within`.
pub async fn eventually(what: &str, within: Duration, check: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let text = recorder().render();
        if check(&text) {
            return text;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{what}: not seen in\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
