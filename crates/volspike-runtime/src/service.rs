//! What every service binary does: load the configuration, set up
//! telemetry, run until SIGINT/SIGTERM, print the summary line.

use std::fmt::Display;
use std::path::Path;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::{Config, ConfigLoader, shutdown, telemetry};

/// The body of a service's `main`: the configuration from built-in
/// defaults < `config` < `VOLSPIKE__...` environment < `flags`, then
/// `run(cfg, shutdown)`. Every configuration problem and any error go to
/// stderr with a failing exit code; the summary goes to stdout.
pub async fn main<S, E, F>(
    config: Option<&Path>,
    flags: impl FnOnce(&mut Config) + Send + 'static,
    run: impl FnOnce(Config, CancellationToken) -> F,
) -> ExitCode
where
    S: Display,
    E: Display,
    F: Future<Output = Result<S, E>>,
{
    let cfg = match ConfigLoader::new()
        .file(config)
        .env()
        .overrides(flags)
        .load()
    {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init_tracing(&cfg.log);
    telemetry::prometheus();
    match run(cfg, shutdown::on_signals()).await {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
