//! The ingestor service: Coinbase WebSocket -> `ticks.raw` + NDJSON journal.
//!
//! [`connection::run_with`] keeps a subscribed connection alive (TLS for
//! `wss://`, acknowledgement check, two watchdogs, reconnect forever with
//! [`backoff`], rate limits,
//! sequence tracking ([`volspike_core::sequence`])) and hands every frame, decoded once, to a
//! [`connection::FrameSink`]. [`IngestSink`] is the real one: it appends the
//! frame to the [`journal`] and builds its Kafka records ([`output`]); at
//! each batch boundary it hands the journal's lines to the OS and only then
//! the records to Kafka, so a crash never leaves Kafka with a tick the
//! journal lacks and a restart finishes delivery from the journal
//! ([`recover`]).
//!
//! Start reading at [`run`].

pub mod auth;
pub mod backoff;
pub mod cli;
pub mod connection;
pub mod journal;
mod metrics_names;
pub mod output;
pub mod recover;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::ThreadedProducer;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use volspike_core::ProductId;
use volspike_core::time::format_timestamp;
use volspike_runtime::admin::{self, Health};
use volspike_runtime::{Config, NoBroker};

use crate::connection::{FeedConfig, FeedEvent, Frame, FrameSink};
use crate::journal::{Journal, JournalConfig};
use crate::metrics_names as m;
use crate::output::{Output, Topics, Tracker, Undelivered};

/// What a run of the ingestor did; `Display` gives its one-line summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Frames received (and journaled, with a journal).
    pub frames: u64,
    /// Ticks decoded and sent to `ticks.raw`.
    pub ticks: u64,
    /// Frames sent to `ticks.dlq`, by reason.
    pub dlq: BTreeMap<&'static str, u64>,
    /// Connections ended, by kind (`closed`, `silence`, `stale`, ...).
    pub disconnects: BTreeMap<&'static str, u64>,
    /// Subscriptions acknowledged (one per successful connection).
    pub subscriptions: u64,
    /// Sequence breaks, by stream.
    pub sequence_breaks: BTreeMap<String, u64>,
    /// Error frames from the exchange.
    pub exchange_errors: u64,
    /// Frames (inclusive ranges) whose records Kafka did not get.
    pub undelivered: Undelivered,
    /// Records re-sent from the journal at start.
    pub recovered_records: u64,
    /// Journal files written in this run.
    pub journal_files: Vec<PathBuf>,
    /// First and last frame numbers of this run (`None` when none came).
    pub frame_range: Option<(u64, u64)>,
    /// Seconds from the first frame to the end of the run (Kafka flushed,
    /// journal synced).
    pub seconds: f64,
}

/// The sink of the real service: journal first, then Kafka.
#[derive(Debug)]
pub struct IngestSink {
    journal: Option<Journal>,
    output: Output,
    next_frame: u64,
    first_frame: Option<u64>,
    first_frame_at: Option<Instant>,
    report: Summary,
    last_tick: BTreeMap<ProductId, Instant>,
    stop_after: Option<(u64, CancellationToken)>,
    health: Health,
    last_disconnect: Option<String>,
    labels: Labels,
}

/// The label of ids outside the configured products.
const OTHER: &str = "other";

/// Metric label values from feed data, bounded by the configured products:
/// a feed sending other ids cannot grow the metrics (or the maps behind
/// them) without bound; they are counted under `other`.
#[derive(Debug, Clone)]
struct Labels(Vec<ProductId>);

impl Labels {
    fn configured(&self, product: &str) -> bool {
        self.0.iter().any(|p| p.as_str() == product)
    }

    /// `product` when it is configured, else [`OTHER`].
    fn product(&self, product: &str) -> String {
        if self.configured(product) {
            product.to_owned()
        } else {
            OTHER.to_owned()
        }
    }

    /// A sequence stream's label (`sequence:BTC-USD`, `trade_id:...`,
    /// `sequence_num:ticker`) with its product or channel bounded the same
    /// way: Coinbase's channel names are kept, anything else is `other`.
    fn stream(&self, stream: &str) -> String {
        const CHANNELS: [&str; 6] = [
            "ticker",
            "ticker_batch",
            "heartbeats",
            "subscriptions",
            "level2",
            "market_trades",
        ];
        let Some((kind, rest)) = stream.split_once(':') else {
            return if stream == "heartbeat_counter" {
                stream
            } else {
                OTHER
            }
            .to_owned();
        };
        let kind = match kind {
            "sequence" | "trade_id" | "sequence_num" => kind,
            _ => OTHER,
        };
        let known = CHANNELS.contains(&rest) || self.configured(rest);
        format!("{kind}:{}", if known { rest } else { OTHER })
    }
}

impl IngestSink {
    /// A sink writing to `journal` (if any) and `output` for `products`;
    /// frames are numbered from the journal's next number (or 0).
    pub fn new(journal: Option<Journal>, output: Output, products: &[String]) -> Self {
        let next_frame = journal.as_ref().map_or(0, Journal::next_frame);
        IngestSink {
            journal,
            output,
            next_frame,
            first_frame: None,
            first_frame_at: None,
            report: Summary::default(),
            last_tick: BTreeMap::new(),
            stop_after: None,
            health: Health::default(),
            last_disconnect: None,
            labels: Labels(
                products
                    .iter()
                    .map(|p| ProductId::from(p.as_str()))
                    .collect(),
            ),
        }
    }

    /// Reports readiness to `health`: ready while a subscription is
    /// acknowledged, not between a disconnect and the next acknowledgement.
    pub fn with_health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }

    /// The report so far.
    pub fn report(&self) -> &Summary {
        &self.report
    }

    /// Waits for Kafka (at most `timeout`), closes the journal (flush and
    /// fsync) and returns the final report. Undelivered frames are in the
    /// report, not an error: the journal has them.
    pub fn finish(mut self, timeout: Duration) -> anyhow::Result<Summary> {
        self.flush()?;
        if let Err(e) = volspike_runtime::kafka::flush(self.output.producer(), timeout) {
            // Purged records get a failed delivery report, so they are
            // listed as undelivered instead of vanishing with the producer.
            tracing::error!(error = %e, "Kafka did not take every record before shutdown");
            use rdkafka::producer::{Producer as _, PurgeConfig};
            self.output
                .producer()
                .purge(PurgeConfig::default().queue().inflight());
            let _ = volspike_runtime::kafka::flush(self.output.producer(), Duration::from_secs(5));
        }
        self.report.undelivered = self.output.undelivered();
        if let Some(j) = self.journal.take() {
            self.report.journal_files = j.close().context("closing the journal")?;
        }
        self.report.frame_range = self.first_frame.map(|f| (f, self.next_frame - 1));
        self.report.seconds = self
            .first_frame_at
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        Ok(self.report)
    }
}

impl FrameSink for IngestSink {
    fn frame(&mut self, f: &Frame<'_>) -> anyhow::Result<()> {
        let number = match self.journal.as_mut() {
            Some(j) => {
                let n = j
                    .append(f.receive_time_ns, f.conn, f.text)
                    .context("writing the journal")?;
                metrics::counter!(m::JOURNAL_FRAMES).increment(1);
                n
            }
            None => self.next_frame,
        };
        self.next_frame = number + 1;
        self.first_frame.get_or_insert(number);
        self.first_frame_at.get_or_insert_with(Instant::now);
        self.report.frames += 1;
        metrics::counter!(m::FRAMES).increment(1);
        let now = Instant::now();
        for t in f.ticks {
            metrics::counter!(m::TICKS, "product" => self.labels.product(&t.product_id))
                .increment(1);
            let latency = f.receive_time_ns.saturating_sub(t.event_time_ns) as f64 / 1e9;
            metrics::histogram!(m::LATENCY).record(latency);
            // Staleness only of the configured products: the map and the
            // gauges stay bounded whatever ids the feed sends.
            match self.last_tick.get_mut(&t.product_id) {
                Some(last) => *last = now,
                None if self.labels.configured(&t.product_id) => {
                    self.last_tick.insert(t.product_id.clone(), now);
                }
                None => {}
            }
        }
        self.report.ticks += f.ticks.len() as u64;
        if let Some((limit, stop)) = &self.stop_after
            && self.report.ticks >= *limit
        {
            stop.cancel();
        }
        if let Err(e) = f.decoded {
            *self.report.dlq.entry(e.reason()).or_default() += 1;
        }
        self.output.add_frame(number, f)?;
        Ok(())
    }

    fn event(&mut self, event: FeedEvent) -> anyhow::Result<()> {
        let time = format_timestamp(volspike_core::time::now_ns());
        let (conn, body) = match &event {
            FeedEvent::Subscribed { conn, products } => {
                self.report.subscriptions += 1;
                self.health.set_ready(true);
                (
                    *conn,
                    json!({"type": "subscribed", "conn": conn, "products": products, "time": time}),
                )
            }
            FeedEvent::Disconnected {
                conn,
                kind,
                reason,
                delay,
            } => {
                *self.report.disconnects.entry(kind).or_default() += 1;
                metrics::counter!(m::RECONNECTS, "reason" => *kind).increment(1);
                self.health.set_ready(false);
                self.last_disconnect = Some(reason.clone());
                if matches!(*kind, "silence" | "stale") {
                    metrics::counter!(m::WATCHDOG_TRIPS, "kind" => *kind).increment(1);
                }
                (
                    *conn,
                    json!({"type": "disconnected", "conn": conn, "kind": kind, "reason": reason,
                           "reconnect_in_ms": delay.as_millis() as u64, "time": time}),
                )
            }
            FeedEvent::SequenceBreak { conn, brk } => {
                *self
                    .report
                    .sequence_breaks
                    .entry(self.labels.stream(&brk.stream))
                    .or_default() += 1;
                metrics::counter!(m::SEQUENCE_BREAKS, "stream" => self.labels.stream(&brk.stream))
                    .increment(1);
                metrics::counter!(m::MISSING).increment(brk.missing());
                (
                    *conn,
                    json!({"type": "sequence_break", "conn": conn, "stream": brk.stream,
                           "expected": brk.expected, "got": brk.got, "missing": brk.missing(),
                           "frame": self.next_frame.saturating_sub(1), "time": time}),
                )
            }
            FeedEvent::ExchangeError { conn, message } => {
                self.report.exchange_errors += 1;
                (
                    *conn,
                    json!({"type": "exchange_error", "conn": conn, "message": message, "time": time}),
                )
            }
        };
        self.output.send_event(&conn.to_string(), &body);
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        // The journal first: Kafka must never hold a frame the journal lacks.
        if let Some(j) = self.journal.as_mut() {
            j.flush().context("writing the journal")?;
        }
        self.output.send_pending();
        let now = Instant::now();
        for (p, t) in &self.last_tick {
            metrics::gauge!(m::STALENESS, "product" => p.to_string())
                .set(now.duration_since(*t).as_secs_f64());
        }
        Ok(())
    }
}

/// When to stop besides `shutdown`: limits of a bounded run (`volspike
/// ingest --minutes`, tests and benchmarks).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop once this many ticks were received.
    pub stop_after_ticks: Option<u64>,
}

/// Errors that stop the ingestor, by the part that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No broker configured.
    #[error(transparent)]
    NoBroker(#[from] NoBroker),
    /// The admin server could not start.
    #[error("admin server: {0:#}")]
    Admin(anyhow::Error),
    /// The journal could not be opened, written or closed.
    #[error("journal: {0:#}")]
    Journal(anyhow::Error),
    /// Kafka: topics, the producer, or re-sending the journal's tail.
    #[error("kafka: {0:#}")]
    Kafka(anyhow::Error),
    /// The feed settings (API key) or the connection loop.
    #[error("feed: {0:#}")]
    Feed(anyhow::Error),
}

/// The Kafka output for `cfg` on `bootstrap`, with its topics created if
/// missing and its partitions known.
pub async fn make_output(cfg: &Config, bootstrap: &str) -> anyhow::Result<Output> {
    let t = &cfg.topics;
    volspike_runtime::kafka::ensure_topics(cfg, bootstrap, &[&t.raw, &t.dlq, &t.events]).await?;
    let mut pc = volspike_runtime::kafka::producer_config(&cfg.kafka, bootstrap, "ingestor");
    pc.set(
        "queue.buffering.max.messages",
        cfg.ingestor.max_pending.to_string(),
    )
    .set(
        "message.timeout.ms",
        cfg.ingestor.delivery_timeout.as_millis().to_string(),
    );
    for (k, v) in &cfg.kafka.properties {
        pc.set(k, v);
    }
    let producer: ThreadedProducer<Tracker> = pc
        .create_with_context(Tracker::default())
        .context("creating the Kafka producer")?;
    let meta_consumer: BaseConsumer =
        volspike_runtime::kafka::client_config(&cfg.kafka, bootstrap, "ingestor-meta").create()?;
    let meta = meta_consumer
        .fetch_metadata(Some(&t.raw), cfg.kafka.request_timeout)
        .context("fetching metadata")?;
    let partitions = meta
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len() as i32);
    anyhow::ensure!(partitions > 0, "topic {} has no partitions", t.raw);
    Ok(Output::new(
        producer,
        Topics {
            raw: t.raw.clone(),
            dlq: t.dlq.clone(),
            events: t.events.clone(),
        },
        partitions,
        cfg.features.event_time_bounds(),
    ))
}

/// The feed settings of `cfg` (reads the API key, if one is configured).
pub fn feed_config(cfg: &Config, first_conn: u64) -> anyhow::Result<FeedConfig> {
    let i = &cfg.ingestor;
    let auth = match (&i.api_key_file, &i.api_key_secret) {
        (Some(file), _) => Some(auth::CdpKey::from_json_file(file)?),
        (None, Some(secret)) => Some(
            auth::CdpKey::from_pem(
                i.api_key_name.as_deref().unwrap_or_default(),
                secret.expose(),
            )
            .context("ingestor.api-key-secret")?,
        ),
        (None, None) => None,
    };
    Ok(FeedConfig {
        url: i.url().to_owned(),
        feed: i.feed,
        products: i.products.clone(),
        silence_timeout: i.silence_timeout,
        stale_timeout: i.stale_timeout,
        handshake_timeout: i.handshake_timeout,
        backoff_base: i.backoff_base,
        backoff_cap: i.backoff_cap,
        first_conn,
        connects_per_second: i.connects_per_second,
        messages_per_second: i.messages_per_second,
        auth,
    })
}

/// Registers at 0 the counters whose label values are known in advance, so
/// that dashboards and alerts see every product and cause before the first
/// event (rather than no series at all).
fn register_metrics(cfg: &Config) {
    for p in &cfg.ingestor.products {
        metrics::counter!(m::TICKS, "product" => p.clone()).increment(0);
    }
    for kind in connection::DISCONNECT_KINDS {
        metrics::counter!(m::RECONNECTS, "reason" => kind).increment(0);
    }
    let refused = volspike_features::Rejection::ALL.map(|r| r.reason());
    for reason in volspike_core::DecodeError::REASONS
        .into_iter()
        .chain(refused)
    {
        metrics::counter!(m::DLQ, "reason" => reason).increment(0);
    }
}

/// Runs the ingestor on the configured broker until `shutdown`: finishes
/// any delivery a previous run left undone (with a journal), then reads the
/// feed. Serves `/metrics` and `/healthz` when configured.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> Result<Summary, Error> {
    run_with(cfg, RunOptions::default(), shutdown).await
}

/// [`run`], also stopping at the limits in `opts`.
pub async fn run_with(
    cfg: Config,
    opts: RunOptions,
    shutdown: CancellationToken,
) -> Result<Summary, Error> {
    let bootstrap = cfg.kafka.broker("the ingestor")?.to_owned();
    let health = Health::default();
    if let Some(addr) = cfg.admin.listen {
        admin::serve(addr, health.clone(), shutdown.clone())
            .await
            .map_err(Error::Admin)?;
    }
    register_metrics(&cfg);
    let journal_dir = cfg.ingestor.journal_dir.clone();
    let journal = match &journal_dir {
        Some(dir) => {
            let (j, resume) = Journal::open(JournalConfig {
                dir: dir.clone(),
                max_bytes: cfg.ingestor.journal_max_bytes,
                max_age: cfg.ingestor.journal_max_age,
            })
            .with_context(|| format!("opening the journal in {}", dir.display()))
            .map_err(Error::Journal)?;
            tracing::info!(dir = %dir.display(), ?resume, "journal open");
            Some((j, resume))
        }
        None => None,
    };
    let feed = feed_config(&cfg, 1).map_err(Error::Feed)?;
    let network = connection::Network::new(cfg.ingestor.tls_ca_file.as_deref())
        .map_err(Error::Feed)?
        .max_message_bytes(cfg.ingestor.max_message_bytes);
    let mut output = make_output(&cfg, &bootstrap).await.map_err(Error::Kafka)?;
    let mut recovered = 0;
    let first_conn = match (&journal, &journal_dir) {
        (Some((j, resume)), Some(dir)) => {
            let (dir, next) = (dir.clone(), j.next_frame());
            let cfg2 = cfg.clone();
            let (o, r) = tokio::task::spawn_blocking(move || {
                let r = recover::resend_journal_tail(&cfg2, &dir, next, &mut output);
                (output, r)
            })
            .await
            .map_err(|e| Error::Kafka(e.into()))?;
            output = o;
            recovered = r
                .context("re-sending the journal's undelivered tail")
                .map_err(Error::Kafka)?
                .records;
            resume.last_conn + 1
        }
        _ => 1,
    };
    // Ready once the exchange acknowledges a subscription (not before a
    // connection exists: an ingestor that cannot reach its feed is not ready).
    let mut sink = IngestSink::new(journal.map(|(j, _)| j), output, &cfg.ingestor.products)
        .with_health(health.clone());
    sink.report.recovered_records = recovered;
    let stop = shutdown.child_token();
    sink.stop_after = opts.stop_after_ticks.map(|n| (n, stop.clone()));
    if let Some(d) = opts.duration {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            stop.cancel();
        });
    }
    let feed = FeedConfig { first_conn, ..feed };
    tracing::info!(url = %feed.url, products = ?feed.products, feed = ?feed.feed, "ingesting");
    let result = connection::run_with(&feed, &network, &mut sink, &stop).await;
    health.set_ready(false);
    let last_disconnect = sink.last_disconnect.take();
    let summary = sink
        .finish(cfg.kafka.request_timeout)
        .map_err(Error::Journal)?;
    result.map_err(|e| Error::Feed(e.into()))?;
    // A bounded run that got nothing from its feed failed, whatever the
    // reason; say the last one.
    if let Some(d) = opts.duration
        && summary.frames == 0
    {
        return Err(Error::Feed(anyhow::anyhow!(
            "no frame from {} in {:?}; last connection error: {}",
            feed.url,
            d,
            last_disconnect
                .as_deref()
                .unwrap_or("none (connected, but nothing came)")
        )));
    }
    if !summary.undelivered.is_empty() {
        let dir = journal_dir
            .as_ref()
            .map_or("<no journal: not recoverable>".into(), |d| {
                d.display().to_string()
            });
        for (from, to) in summary.undelivered.ranges() {
            tracing::error!(
                from,
                to,
                "frames not delivered to Kafka; backfill with: volspike backfill --journal {dir} --from-frame {from} --to-frame {to}"
            );
        }
    }
    Ok(summary)
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let undelivered: u64 = self
            .undelivered
            .ranges()
            .iter()
            .map(|(a, b)| b - a + 1)
            .sum();
        write!(
            f,
            "ingest: frames={} ticks={} dlq={} subscriptions={} disconnects={} sequence_breaks={} exchange_errors={} undelivered_frames={} undelivered_ranges={:?} recovered_records={} journal_files={} frame_range={:?} elapsed={:.3}s rate={:.0} frames/s",
            self.frames,
            self.ticks,
            self.dlq.values().sum::<u64>(),
            self.subscriptions,
            self.disconnects.values().sum::<u64>(),
            self.sequence_breaks.values().sum::<u64>(),
            self.exchange_errors,
            undelivered,
            self.undelivered.ranges(),
            self.recovered_records,
            self.journal_files.len(),
            self.frame_range,
            self.seconds,
            self.frames as f64 / self.seconds.max(1e-9),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_labels_take_only_configured_products_and_known_channels() {
        let products = ["BTC-USD".to_owned()];
        let labels = |p: &str, s: &str| {
            let l = Labels(
                products
                    .iter()
                    .map(|p| ProductId::from(p.as_str()))
                    .collect(),
            );
            (l.product(p), l.stream(s))
        };
        assert_eq!(
            labels("BTC-USD", "sequence:BTC-USD"),
            ("BTC-USD".into(), "sequence:BTC-USD".into())
        );
        assert_eq!(
            labels("EVIL-\u{1}", "trade_id:EVIL"),
            ("other".into(), "trade_id:other".into())
        );
        assert_eq!(
            labels("x", "sequence_num:ticker"),
            ("other".into(), "sequence_num:ticker".into())
        );
        assert_eq!(
            labels("x", "sequence_num:aaaa"),
            ("other".into(), "sequence_num:other".into())
        );
        assert_eq!(
            labels("x", "bogus:BTC-USD"),
            ("other".into(), "other:BTC-USD".into())
        );
        assert_eq!(labels("x", "heartbeat_counter").1, "heartbeat_counter");
        assert_eq!(labels("x", "junk").1, "other");
    }
}
