//! `volspike bench grpc`: latency and throughput of a running inference
//! server's `GetScore` and `Score`.
//!
//! Open loop: requests are sent on a fixed schedule whatever the server does,
//! and each latency is measured from the request's scheduled time, so a
//! stalled server shows up as latency instead of as fewer requests
//! (no coordinated omission). The schedule runs on its own thread with
//! `thread::sleep` (tens of microseconds of jitter on Linux), not on tokio's
//! millisecond timer. Closed loop: a fixed number of requests in flight, each
//! sent as soon as the previous one returns; it finds the peak throughput.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};
use volspike_proto::volspike::v1 as pb;
use volspike_proto::volspike::v1::volatility_service_client::VolatilityServiceClient;

/// The RPC to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Rpc {
    /// `GetScore` of one product's latest live row.
    GetScore,
    /// `Score` of one feature row given in the request.
    Score,
}

/// How load is offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Requests per second on a fixed schedule.
    Open {
        /// Requests per second.
        rate: f64,
    },
    /// Requests in flight at all times.
    Closed {
        /// Concurrent requests.
        concurrency: usize,
    },
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// `http://HOST:PORT`.
    pub target: String,
    /// RPC.
    pub rpc: Rpc,
    /// Load.
    pub load: Load,
    /// Measured time.
    pub duration: Duration,
    /// Time before measuring (connections, caches).
    pub warmup: Duration,
    /// HTTP/2 connections to spread requests over.
    pub connections: usize,
    /// Product for `GetScore`.
    pub product: String,
    /// Bearer token, if the server wants one.
    pub token: Option<String>,
}

/// Measured results (latencies in microseconds).
#[derive(Debug, Clone)]
pub struct BenchResult {
    /// Requests measured (after warm-up).
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Measured wall time, seconds.
    pub seconds: f64,
    /// Latency percentiles: 50, 90, 99, 99.9, max.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Slowest.
    pub max_us: u64,
}

impl BenchResult {
    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        (self.requests - self.errors) as f64 / self.seconds.max(1e-9)
    }
}

type Client = VolatilityServiceClient<
    tonic::service::interceptor::InterceptedService<Channel, TokenInterceptor>,
>;

#[derive(Debug, Clone)]
struct TokenInterceptor(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for TokenInterceptor {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            r.metadata_mut().insert("authorization", v.clone());
        }
        Ok(r)
    }
}

/// One request, ready to send any number of times.
#[derive(Debug, Clone)]
enum Call {
    GetScore(pb::GetScoreRequest),
    Score(pb::ScoreRequest),
}

async fn send(client: &mut Client, call: &Call) -> Result<(), tonic::Status> {
    match call {
        Call::GetScore(r) => client.get_score(r.clone()).await.map(|_| ()),
        Call::Score(r) => client.score(r.clone()).await.map(|_| ()),
    }
}

/// Runs the benchmark on a thread of its own with a single-threaded
/// runtime: on a small machine shared with the server, a load generator
/// spread over every core would compete with the server for each of them.
pub fn run_on_own_thread(opts: BenchOptions) -> anyhow::Result<BenchResult> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the load generator's runtime")?
            .block_on(run(&opts))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the load generator panicked"))?
}

/// Runs the benchmark against `opts.target`.
pub async fn run(opts: &BenchOptions) -> anyhow::Result<BenchResult> {
    let token = opts
        .token
        .as_ref()
        .map(|t| format!("Bearer {t}").parse())
        .transpose()
        .context("the token is not valid metadata")?;
    let mut clients = Vec::new();
    for _ in 0..opts.connections.max(1) {
        let channel = Endpoint::from_shared(opts.target.clone())?
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("connecting to {}", opts.target))?;
        clients.push(VolatilityServiceClient::with_interceptor(
            channel,
            TokenInterceptor(token.clone()),
        ));
    }
    let model = clients[0]
        .get_model(pb::GetModelRequest {})
        .await
        .context("GetModel")?
        .into_inner();
    let call = match opts.rpc {
        Rpc::GetScore => Call::GetScore(pb::GetScoreRequest {
            product_id: opts.product.clone(),
        }),
        // Any finite row will do; the cost does not depend on the values.
        Rpc::Score => Call::Score(pb::ScoreRequest {
            row: Some(pb::FeatureRow {
                values: (0..model.feature_names.len())
                    .map(|i| 0.5 + i as f64)
                    .collect(),
                ..Default::default()
            }),
        }),
    };
    // Fail early and clearly if the call itself is refused.
    send(&mut clients[0], &call)
        .await
        .with_context(|| format!("a first {:?} request", opts.rpc))?;
    match opts.load {
        Load::Open { rate } => open_loop(clients, call, rate, opts.warmup, opts.duration).await,
        Load::Closed { concurrency } => {
            closed_loop(clients, call, concurrency, opts.warmup, opts.duration).await
        }
    }
}

struct Outcome {
    measured: bool,
    latency_us: u64,
    error: Option<String>,
    finished: Instant,
}

async fn open_loop(
    clients: Vec<Client>,
    call: Call,
    rate: f64,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<BenchResult> {
    anyhow::ensure!(rate > 0.0, "the rate must be positive");
    let interval = Duration::from_secs_f64(1.0 / rate);
    let total = ((warmup + duration).as_secs_f64() * rate).round() as u64;
    let (tx, mut rx) = mpsc::unbounded_channel::<Outcome>();
    let handle = tokio::runtime::Handle::current();
    let start = Instant::now();
    let measure_from = start + warmup;
    let dispatcher = std::thread::spawn(move || {
        for i in 0..total {
            let due = start + interval.mul_f64(i as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let mut client = clients[i as usize % clients.len()].clone();
            let (call, tx) = (call.clone(), tx.clone());
            handle.spawn(async move {
                let r = send(&mut client, &call).await;
                let _ = tx.send(Outcome {
                    measured: due >= measure_from,
                    latency_us: due.elapsed().as_micros() as u64,
                    error: r.err().map(|e| e.to_string()),
                    finished: Instant::now(),
                });
            });
        }
    });
    let mut result = Collector::new(measure_from);
    for _ in 0..total {
        let o = rx.recv().await.context("a request task was lost")?;
        result.add(o);
    }
    dispatcher
        .join()
        .map_err(|_| anyhow::anyhow!("the dispatcher panicked"))?;
    Ok(result.finish(duration))
}

async fn closed_loop(
    clients: Vec<Client>,
    call: Call,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<BenchResult> {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let (tx, mut rx) = mpsc::unbounded_channel::<Outcome>();
    for w in 0..concurrency.max(1) {
        let mut client = clients[w % clients.len()].clone();
        let (call, tx) = (call.clone(), tx.clone());
        tokio::spawn(async move {
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                let r = send(&mut client, &call).await;
                let _ = tx.send(Outcome {
                    measured: t >= measure_from,
                    latency_us: t.elapsed().as_micros() as u64,
                    error: r.err().map(|e| e.to_string()),
                    finished: Instant::now(),
                });
            }
        });
    }
    drop(tx);
    let mut result = Collector::new(measure_from);
    while let Some(o) = rx.recv().await {
        result.add(o);
    }
    Ok(result.finish(duration))
}

struct Collector {
    histogram: Histogram<u64>,
    measure_from: Instant,
    last_finished: Instant,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Collector {
    fn new(measure_from: Instant) -> Collector {
        Collector {
            histogram: Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds"),
            measure_from,
            last_finished: measure_from,
            requests: 0,
            errors: 0,
            first_error: None,
        }
    }

    fn add(&mut self, o: Outcome) {
        if !o.measured {
            return;
        }
        self.requests += 1;
        self.last_finished = self.last_finished.max(o.finished);
        if let Some(e) = o.error {
            self.errors += 1;
            self.first_error.get_or_insert(e);
        }
        self.histogram.saturating_record(o.latency_us.max(1));
    }

    /// Throughput is over the measured span or until the last measured
    /// request finished, whichever is longer: a server that falls behind
    /// an open-loop schedule must not be credited with the offered rate.
    fn finish(self, duration: Duration) -> BenchResult {
        let h = &self.histogram;
        let drained = self
            .last_finished
            .saturating_duration_since(self.measure_from);
        BenchResult {
            requests: self.requests,
            errors: self.errors,
            first_error: self.first_error,
            seconds: duration.max(drained).as_secs_f64(),
            p50_us: h.value_at_quantile(0.5),
            p90_us: h.value_at_quantile(0.9),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}
