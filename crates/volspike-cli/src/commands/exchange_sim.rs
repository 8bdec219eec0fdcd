//! `volspike exchange-sim`: the local Coinbase exchange of `volspike-sim`
//! as a process, serving recordings or a simulated market.

use std::net::SocketAddr;
use std::time::Duration;

use volspike_core::Feed;
use volspike_core::time::parse_timestamp;
use volspike_runtime::shutdown;
use volspike_sim::{ExchangeSim, Faults, MarketConfig, SimSettings, Speed};

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
    #[command(flatten)]
    pub faults: FaultArgs,
}

/// The fault options; counts are ticker messages sent on one connection.
#[derive(Debug, clap::Args)]
pub struct FaultArgs {
    /// Close each connection after this many ticker messages ...
    #[arg(long)]
    pub disconnect_every: Option<u64>,
    /// ... at most this many times in total (then behave).
    #[arg(long, default_value_t = u64::MAX)]
    pub max_disconnects: u64,
    /// Go silent (socket open, nothing sent) after this many ticker messages,
    /// on the first connection only.
    #[arg(long)]
    pub silent_after: Option<u64>,
    /// Keep sending heartbeats but no tickers after this many ticker
    /// messages, on the first connection only.
    #[arg(long)]
    pub heartbeats_only_after: Option<u64>,
    /// Lose tickers after this many ticker messages, on the first
    /// connection only: the market goes on (heartbeats report its trades)
    /// but its tickers never reach the client (counted in `lost`).
    #[arg(long)]
    pub lose_tickers_after: Option<u64>,
    /// Send a malformed frame after every this many ticker messages.
    #[arg(long)]
    pub malformed_every: Option<u64>,
    /// Send an error frame after every this many ticker messages.
    #[arg(long)]
    pub error_every: Option<u64>,
    /// Products refused in subscriptions (left out of the acknowledgement
    /// and answered with an error frame), comma-separated.
    #[arg(long = "reject", value_delimiter = ',')]
    pub reject_products: Vec<String>,
    /// Wait this long before acknowledging a subscription, e.g. `3s`.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub ack_delay: Duration,
    /// Drop a connection whose client has not taken a ticker frame within
    /// this long (its socket buffers are full), as Coinbase drops slow
    /// consumers, e.g. `2s`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub drop_slow_after: Option<Duration>,
}

impl From<FaultArgs> for Faults {
    fn from(a: FaultArgs) -> Faults {
        Faults {
            disconnect_every: a.disconnect_every,
            max_disconnects: a.max_disconnects,
            silent_after: a.silent_after,
            heartbeats_only_after: a.heartbeats_only_after,
            lose_tickers_after: a.lose_tickers_after,
            malformed_every: a.malformed_every,
            error_every: a.error_every,
            reject_products: a.reject_products,
            ack_delay: a.ack_delay,
            drop_slow_after: a.drop_slow_after,
        }
    }
}

/// Serves until a signal (or, with `--exit-when-done`, until everything was
/// sent and the last client left), then prints what each connection got.
pub async fn run(args: ExchangeSimArgs) -> anyhow::Result<()> {
    let ticks = if args.replay.is_empty() {
        volspike_sim::simulate_ticks(&MarketConfig {
            products: vec!["BTC-USD".into(), "ETH-USD".into()],
            start_ns: parse_timestamp("2026-01-01T00:00:00Z")?,
            seconds: args.simulate_minutes * 60,
            seed: 42,
        })
    } else {
        let files =
            volspike_replay::order_by_first_tick(volspike_replay::expand_globs(&args.replay)?)?;
        volspike_replay::load_ticks(&files)?
    };
    let settings = SimSettings {
        feed: args.feed,
        speed: args.speed,
        faults: args.faults.into(),
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
