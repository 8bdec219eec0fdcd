//! `volspike backfill`: journal frames the ingestor could not deliver, sent
//! to Kafka.

use std::path::PathBuf;

use volspike_runtime::ConfigLoader;

use super::{bootstrap_flag, load};

/// Arguments of `volspike backfill`.
#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// The ingestor's journal directory.
    #[arg(long)]
    pub journal: PathBuf,
    /// First frame number to send.
    #[arg(long)]
    pub from_frame: u64,
    /// Last frame number to send (inclusive).
    #[arg(long)]
    pub to_frame: u64,
    /// Kafka bootstrap servers.
    #[arg(long)]
    pub bootstrap: Option<String>,
}

/// Sends frames `from_frame..=to_frame` and prints what was sent.
pub async fn run(a: BackfillArgs, loader: ConfigLoader) -> anyhow::Result<()> {
    let cfg = load(loader.overrides(bootstrap_flag(a.bootstrap)))?;
    let bootstrap = cfg.kafka.broker("backfill")?;
    let mut output = volspike_ingestor::make_output(&cfg, bootstrap).await?;
    let resent = tokio::task::spawn_blocking(move || {
        volspike_ingestor::recover::backfill(
            &cfg,
            &a.journal,
            a.from_frame,
            a.to_frame,
            &mut output,
        )
    })
    .await??;
    println!("backfill: {resent}");
    Ok(())
}
