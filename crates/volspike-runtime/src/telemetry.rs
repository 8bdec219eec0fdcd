//! Tracing and the process-wide Prometheus recorder.

use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the tracing subscriber (to stderr). `RUST_LOG` wins over the
/// configured level. Colors only when stderr is a terminal, so piped and
/// redirected logs carry no ANSI escapes. Calling it twice is harmless.
pub fn init_tracing(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if log.format == LogFormat::Json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Installs the tracing subscriber writing to the end of `path` (created
/// with its directory), without colors: for commands whose terminal is for
/// their own lines (`volspike demo`). Calling it twice is harmless.
pub fn init_tracing_to_file(log: &LogConfig, path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file));
    let _ = if log.format == LogFormat::Json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    Ok(())
}

/// The process-wide Prometheus recorder, installed on first use so that
/// several services in one process (demo, tests) share it.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        // Durations (`*_seconds`) as histograms with buckets from 50 us to
        // 10 s, so latency can be aggregated across instances; the rest of
        // the histograms stay summaries.
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".to_owned()),
                &[
                    50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 0.1,
                    0.25, 0.5, 1.0, 2.5, 10.0,
                ],
            )
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then our
        // handle renders nothing, which the admin server makes visible.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        handle
    })
}
