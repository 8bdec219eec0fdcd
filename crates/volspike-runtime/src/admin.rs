//! The admin HTTP server: `/metrics` (Prometheus text), `/healthz`
//! (readiness: the service can do its work) and `/livez` (liveness: the
//! process answers; a service waiting for a model or a broker is alive but
//! not ready, and restarting it would not help).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::telemetry::prometheus;

/// Whether the service is ready to do its work; `/healthz` reports it.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<AtomicBool>);

impl Health {
    /// Marks the service ready (200) or not (503).
    pub fn set_ready(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }

    /// Whether the service is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Binds the admin server and serves it until `shutdown`. Returns the bound
/// address (useful with port 0).
pub async fn serve(
    addr: SocketAddr,
    health: Health,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    serve_with(addr, health, Router::new(), shutdown).await
}

/// [`serve`] with a service's own routes beside `/metrics`, `/healthz` and
/// `/livez`.
pub async fn serve_with(
    addr: SocketAddr,
    health: Health,
    routes: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the admin server to {addr}"))?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(|| async { prometheus().render() }))
        .route("/healthz", get(healthz))
        .route("/livez", get(|| async { "alive\n" }))
        .with_state(health)
        .merge(routes);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "admin server failed");
        }
    });
    tracing::info!(%bound, "admin server listening (/metrics, /healthz, /livez)");
    Ok(bound)
}

async fn healthz(State(health): State<Health>) -> (StatusCode, &'static str) {
    if health.is_ready() {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn status(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out.lines().next().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn a_service_that_is_not_ready_is_still_alive() {
        let health = Health::default();
        let stop = CancellationToken::new();
        let addr = serve("127.0.0.1:0".parse().unwrap(), health.clone(), stop.clone())
            .await
            .unwrap();
        assert_eq!(
            status(addr, "/healthz").await,
            "HTTP/1.1 503 Service Unavailable"
        );
        assert_eq!(status(addr, "/livez").await, "HTTP/1.1 200 OK");
        health.set_ready(true);
        assert_eq!(status(addr, "/healthz").await, "HTTP/1.1 200 OK");
        stop.cancel();
    }
}
