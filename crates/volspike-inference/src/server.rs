//! Assembling and running the server: gRPC (volspike.v1, the Open Inference
//! Protocol v2, grpc.health.v1, reflection) with optional TLS and bearer
//! authentication, the admin server, live scoring and model reloads.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Status};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use volspike_mlflow::AnyRegistry;
use volspike_model::registry::{ModelRef, Registry};
use volspike_proto::inference::grpc_inference_service_server::GrpcInferenceServiceServer;
use volspike_proto::volspike::v1::volatility_service_server::VolatilityServiceServer;
use volspike_runtime::Config;
use volspike_runtime::admin::{self, Health};
use volspike_runtime::config::Secret;

use crate::live::{self, LiveState};
use crate::model::ModelSlot;
use crate::oip::InferenceApi;
use crate::source::{self, ModelSource, Reload};
use crate::volatility::VolatilityApi;

/// Services whose health is reported (besides the server as a whole, "").
const SERVICES: [&str; 2] = [
    "volspike.v1.VolatilityService",
    "inference.GRPCInferenceService",
];

/// Events a slow `WatchScores` subscriber may fall behind by.
const WATCH_CAPACITY: usize = 4096;

/// Errors that stop the inference server, by the part that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry could not be opened.
    #[error("registry: {0}")]
    Registry(#[from] volspike_mlflow::MlflowError),
    /// `inference.model` names a file that cannot be served.
    #[error("model: {0:#}")]
    Model(anyhow::Error),
    /// The topics could not be listed or created.
    #[error("kafka: creating topics: {0:#}")]
    Topics(anyhow::Error),
    /// The admin server could not start.
    #[error("admin server: {0:#}")]
    Admin(anyhow::Error),
    /// gRPC could not start: binding, TLS, reflection.
    #[error("gRPC: {0:#}")]
    Grpc(anyhow::Error),
    /// A part (gRPC, live scoring, the model watcher) failed while running.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// What a run of the server did; `Display` gives its one-line summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Feature rows scored live.
    pub rows: u64,
    /// Predictions published.
    pub predictions: u64,
    /// Alerts published.
    pub alerts: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "serve: live_rows={} predictions={} alerts={}",
            self.rows, self.predictions, self.alerts
        )
    }
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// Where gRPC is served.
    pub grpc_addr: SocketAddr,
    /// Where `/metrics` and `/healthz` are served, if enabled.
    pub admin_addr: Option<SocketAddr>,
    /// The live state (model slot, latest rows, event channel).
    pub state: Arc<LiveState>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Waits until the server stops; an error if any part failed.
    pub async fn wait(self) -> Result<Summary, Error> {
        let r = self
            .task
            .await
            .context("the inference server task panicked")
            .and_then(|r| r);
        let c = &self.state.counts;
        r.map_err(Error::Failed)?;
        Ok(Summary {
            rows: c.rows.load(Ordering::Relaxed),
            predictions: c.predictions.load(Ordering::Relaxed),
            alerts: c.alerts.load(Ordering::Relaxed),
        })
    }
}

/// Runs the server until `shutdown`: [`start`], then [`Running::wait`].
pub async fn run(cfg: Config, shutdown: CancellationToken) -> Result<Summary, Error> {
    start(cfg, shutdown).await?.wait().await
}

/// Starts the server with the registry of `cfg.registry`: see [`start_with`].
pub async fn start(cfg: Config, shutdown: CancellationToken) -> Result<Running, Error> {
    let r = &cfg.registry;
    let registry = AnyRegistry::open(r.mlflow_uri.as_deref(), &r.dir, &r.experiment)?;
    start_with(cfg, registry, shutdown).await
}

/// `authorization: Bearer TOKEN` on every call, when a token is configured.
#[derive(Clone)]
struct BearerAuth(Option<Arc<str>>);

impl std::fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "BearerAuth(**REDACTED**)"
        } else {
            "BearerAuth(off)"
        })
    }
}

impl BearerAuth {
    fn new(token: Option<&Secret>) -> BearerAuth {
        BearerAuth(token.map(|t| Arc::from(format!("Bearer {}", t.expose()))))
    }
}

impl tonic::service::Interceptor for BearerAuth {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.0 else {
            return Ok(req);
        };
        let given = req
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if constant_time_eq(given, expected.as_bytes()) {
            Ok(req)
        } else {
            Err(Status::unauthenticated(
                "missing or wrong bearer token (metadata `authorization: Bearer TOKEN`)",
            ))
        }
    }
}

/// Compares without an early exit, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Health as grpc.health.v1 and `/healthz` report it.
#[derive(Clone)]
struct Readiness {
    reporter: HealthReporter,
    admin: Health,
}

impl Readiness {
    async fn set(&self, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter.set_service_status("", status).await;
        for s in SERVICES {
            self.reporter.set_service_status(s, status).await;
        }
        self.admin.set_ready(serving);
    }
}

/// The topics the server reads and writes.
pub fn topics(cfg: &Config) -> [&str; 4] {
    [
        &cfg.topics.features,
        &cfg.topics.predictions,
        &cfg.topics.alerts,
        &cfg.topics.model_events,
    ]
}

/// Starts the server on `registry`: loads the model (or waits for one,
/// NOT_SERVING), binds gRPC, and with a broker (`kafka.bootstrap`) creates
/// its topics if missing, scores `ticks.features` live and follows
/// `models.events`. It runs until `shutdown`, or until a part fails.
pub async fn start_with<R: Registry + Send + Sync + 'static>(
    cfg: Config,
    registry: R,
    shutdown: CancellationToken,
) -> Result<Running, Error> {
    let inf = cfg.inference.clone();
    let bootstrap = cfg.kafka.bootstrap.clone();
    match &bootstrap {
        Some(b) => volspike_runtime::kafka::ensure_topics(&cfg, b, &topics(&cfg))
            .await
            .map_err(Error::Topics)?,
        None => {
            tracing::warn!("no broker (kafka.bootstrap): serving requests only, no live scoring")
        }
    }
    let model_ref: ModelRef = inf.model_ref(&cfg.registry);
    let is_file = matches!(model_ref, ModelRef::Path(_));
    let slot = Arc::new(ModelSlot::new());
    let source = Arc::new(ModelSource::new(registry, model_ref));
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let readiness = Readiness {
        reporter,
        admin: Health::default(),
    };
    readiness.set(false).await;
    match source.reload(&slot).await {
        Ok(_) => readiness.set(true).await,
        Err(e) if is_file => return Err(Error::Model(anyhow::anyhow!(e))),
        Err(e) => {
            tracing::warn!(error = %e, "no model to serve yet; NOT_SERVING until one is promoted")
        }
    }

    // Internal stop: the caller's shutdown, or any part failing.
    let stop = shutdown.child_token();
    let admin_addr = match cfg.admin.listen {
        Some(addr) => Some(
            admin::serve(addr, readiness.admin.clone(), stop.clone())
                .await
                .map_err(Error::Admin)?,
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(inf.listen)
        .await
        .with_context(|| format!("binding gRPC to {}", inf.listen))
        .map_err(Error::Grpc)?;
    let grpc_addr = listener
        .local_addr()
        .context("the gRPC listener's address")
        .map_err(Error::Grpc)?;

    let state = Arc::new(LiveState::new(slot.clone(), WATCH_CAPACITY));
    let accepting = Arc::new(AtomicBool::new(true));
    let auth = BearerAuth::new(inf.auth_token.as_ref());
    let volatility = VolatilityServiceServer::new(VolatilityApi::new(
        state.clone(),
        inf.max_batch,
        stop.clone(),
    ))
    .max_decoding_message_size(inf.max_message_bytes);
    let oip = GrpcInferenceServiceServer::new(InferenceApi::new(
        slot.clone(),
        inf.max_batch,
        accepting.clone(),
    ))
    .max_decoding_message_size(inf.max_message_bytes);
    // Both reflection versions: grpcurl asks v1, Python's grpcio-reflection v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(volspike_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .context("building reflection")
        .map_err(Error::Grpc)?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .context("building reflection")
        .map_err(Error::Grpc)?;

    let mut builder = Server::builder()
        .max_concurrent_streams(Some(inf.max_concurrent_streams))
        .timeout(inf.request_timeout);
    if let (Some(cert), Some(key)) = (&inf.tls_cert, &inf.tls_key) {
        let read = |p: &std::path::PathBuf| {
            std::fs::read(p)
                .with_context(|| format!("reading {}", p.display()))
                .map_err(Error::Grpc)
        };
        builder = builder
            .tls_config(
                ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?)),
            )
            .context("TLS configuration")
            .map_err(Error::Grpc)?;
    }
    // Health stays open (load balancers and probes carry no token).
    let router = builder
        .add_service(health_service)
        .add_service(InterceptedService::new(volatility, auth.clone()))
        .add_service(InterceptedService::new(oip, auth.clone()))
        .add_service(InterceptedService::new(reflection_v1, auth.clone()))
        .add_service(InterceptedService::new(reflection_v1alpha, auth));
    let incoming = TcpListenerStream::new(listener).map(|s| {
        if let Ok(s) = &s {
            // Small responses must not wait for Nagle's algorithm.
            let _ = s.set_nodelay(true);
        }
        s
    });
    let grpc = {
        let stop = stop.clone();
        let readiness = readiness.clone();
        let accepting = accepting.clone();
        tokio::spawn(async move {
            router
                .serve_with_incoming_shutdown(incoming, async move {
                    stop.cancelled().await;
                    accepting.store(false, Ordering::Relaxed);
                    readiness.set(false).await;
                    tracing::info!("gRPC draining");
                })
                .await
                .context("gRPC server")
        })
    };
    tracing::info!(%grpc_addr, tls = inf.tls_cert.is_some(), auth = inf.auth_token.is_some(), "gRPC listening");

    let live = match (&bootstrap, inf.score_live) {
        (Some(b), true) => {
            let (cfg, b, state, stop) = (cfg.clone(), b.clone(), state.clone(), stop.clone());
            Some(tokio::spawn(async move {
                live::supervise(&cfg, &b, state, stop).await;
                Ok(())
            }))
        }
        _ => None,
    };
    let watcher = {
        let (cfg, b, slot, stop) = (cfg.clone(), bootstrap.clone(), slot.clone(), stop.clone());
        let readiness = readiness.clone();
        let accepting = accepting.clone();
        tokio::spawn(async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Reload>();
            let follow = async {
                while let Some(r) = rx.recv().await {
                    tracing::info!(reload = ?r, "model swapped");
                    if accepting.load(Ordering::Relaxed) {
                        readiness.set(true).await;
                    }
                }
            };
            let w = source::watch(
                &cfg,
                b.as_deref(),
                source,
                slot,
                inf.model_poll,
                move |r| {
                    let _ = tx.send(r.clone());
                },
                stop,
            );
            let (r, ()) = tokio::join!(w, follow);
            r
        })
    };

    let grace = inf.request_timeout;
    let task = tokio::spawn(async move {
        let mut first_error: Option<anyhow::Error> = None;
        let mut note = |r: Result<anyhow::Result<()>, tokio::task::JoinError>, what: &str| {
            let r = r.map_err(anyhow::Error::from).and_then(|r| r);
            if let Err(e) = r {
                tracing::error!(error = %format!("{e:#}"), "{what} failed; stopping");
                first_error.get_or_insert(e.context(format!("{what} failed")));
            }
        };

        // Whichever part ends first (normally all at shutdown) stops the rest.
        let (g, l, w) = tokio::join!(
            async {
                let mut grpc = grpc;
                // Open streams (WatchScores, health Watch) would hold a
                // graceful shutdown forever: they get `request-timeout`.
                let r = tokio::select! {
                    r = &mut grpc => r,
                    () = async {
                        stop.cancelled().await;
                        tokio::time::sleep(grace).await;
                    } => {
                        tracing::warn!(?grace, "streams still open at shutdown; closing them");
                        grpc.abort();
                        Ok(Ok(()))
                    }
                };
                stop.cancel();
                r
            },
            async {
                match live {
                    Some(h) => {
                        let r = h.await;
                        stop.cancel();
                        Some(r)
                    }
                    None => None,
                }
            },
            async {
                let r = watcher.await;
                stop.cancel();
                r
            },
        );
        note(g, "gRPC server");
        if let Some(l) = l {
            note(l, "live scoring");
        }
        note(w, "model watcher");
        first_error.map_or(Ok(()), Err)
    });
    Ok(Running {
        grpc_addr,
        admin_addr,
        state,
        task,
    })
}
