//! `volspike exchange-sim`: the local Coinbase exchange of `volspike-sim`
//! as a process, serving recordings or a simulated market.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use volspike_core::Feed;
use volspike_core::time::parse_timestamp;
use volspike_runtime::{ConfigLoader, shutdown};
use volspike_sim::{ExchangeSim, Faults, MarketConfig, SimSettings, SimTls, Speed};

/// Arguments of `volspike exchange-sim`.
#[derive(Debug, clap::Args)]
pub struct ExchangeSimArgs {
    /// Recordings to serve (globs; anything `replay` reads). Without it,
    /// `--simulate-minutes` of synthetic market are served.
    #[arg(long, num_args = 1..)]
    pub replay: Vec<String>,
    /// Minutes of synthetic market when no recording is given.
    #[arg(long, default_value_t = 10)]
    pub simulate_minutes: u64,
    /// Protocol: `advanced-trade` or `exchange`.
    #[arg(long, default_value = "advanced-trade", value_parser = volspike_ingestor::cli::parse_feed)]
    pub feed: Feed,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Recorded time divided by this factor, or `max` for no waiting.
    #[arg(long, default_value = "1")]
    pub speed: Speed,
    /// Exit once every message was sent and the last client left.
    #[arg(long)]
    pub exit_when_done: bool,
    /// Serve `wss://` with a certificate signed by a CA made at start; the
    /// CA goes to `--tls-ca-out` (point the ingestor's
    /// `ingestor.tls-ca-file` at it).
    #[arg(long)]
    pub tls: bool,
    /// Where `--tls` writes its CA certificate (PEM).
    #[arg(long, default_value = "exchange-sim-ca.pem", requires = "tls")]
    pub tls_ca_out: PathBuf,
    /// Names the `--tls` certificate is for (DNS names or IP addresses).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1",
        requires = "tls"
    )]
    pub tls_names: Vec<String>,
    #[command(flatten)]
    pub faults: Faults,
}

/// Serves until a signal (or, with `--exit-when-done`, until everything was
/// sent and the last client left), then prints what each connection got.
pub async fn run(args: ExchangeSimArgs, loader: ConfigLoader) -> anyhow::Result<()> {
    super::load(loader)?;
    let ticks = if args.replay.is_empty() {
        volspike_sim::simulate_ticks(&MarketConfig {
            products: vec!["BTC-USD".into(), "ETH-USD".into()],
            start_ns: parse_timestamp("2026-01-01T00:00:00Z")?,
            seconds: args.simulate_minutes * 60,
            seed: 42,
            regime: None,
        })
    } else {
        let files =
            volspike_replay::order_by_first_tick(volspike_replay::expand_globs(&args.replay)?)?;
        volspike_replay::load_ticks(&files)?
    };
    let tls = if args.tls {
        let tls = SimTls::generate(&args.tls_names)?;
        std::fs::write(&args.tls_ca_out, &tls.ca_pem)
            .with_context(|| format!("writing the CA to {}", args.tls_ca_out.display()))?;
        println!(
            "exchange-sim: TLS certificate for {} signed by the CA in {}",
            args.tls_names.join(", "),
            args.tls_ca_out.display()
        );
        Some(tls)
    } else {
        None
    };
    let settings = SimSettings {
        feed: args.feed,
        speed: args.speed,
        faults: args.faults,
        tls,
        ..SimSettings::default()
    };
    let sim = ExchangeSim::start(args.listen, ticks, settings).await?;
    println!(
        "exchange-sim: serving {} messages on {} ({})",
        sim.messages().len(),
        sim.url(),
        args.feed.as_str()
    );
    let stop = shutdown::on_signals();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        if args.exit_when_done && sim.exhausted() && sim.reports().iter().all(|r| !r.end.is_empty())
        {
            break;
        }
    }
    let reports = sim.stop().await;
    println!(
        "exchange-sim: total connections={} ticks={}",
        reports.len(),
        reports.iter().map(|r| r.ticks).sum::<u64>()
    );
    for r in reports {
        println!("exchange-sim: {r}");
    }
    Ok(())
}
