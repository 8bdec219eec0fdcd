//! `volspike probe`: the health check of a running service, for container
//! healthchecks (the runtime image has no curl): `/healthz` over HTTP, or
//! `grpc.health.v1` for the inference server (what Kubernetes' native gRPC
//! probe asks). Exit status 0 when healthy, 1 with the reason otherwise.

use std::time::Duration;

use anyhow::{Context as _, bail};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// `http://HOST:PORT/PATH` (healthy: a 2xx answer) or `grpc://HOST:PORT`
    /// (healthy: SERVING).
    pub url: String,
    /// gRPC service to ask about; empty: the server as a whole.
    #[arg(long, default_value = "")]
    pub service: String,
    /// Longest the probe waits.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

pub async fn run(a: ProbeArgs) -> anyhow::Result<()> {
    tokio::time::timeout(a.timeout, probe(&a))
        .await
        .with_context(|| format!("{} did not answer within {:?}", a.url, a.timeout))?
}

async fn probe(a: &ProbeArgs) -> anyhow::Result<()> {
    if let Some(addr) = a.url.strip_prefix("grpc://") {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .with_context(|| format!("`{}` is not a gRPC address", a.url))?
            .connect()
            .await
            .with_context(|| format!("connecting to {}", a.url))?;
        let status = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: a.service.clone(),
            })
            .await
            .with_context(|| format!("grpc.health.v1 Check on {}", a.url))?
            .into_inner()
            .status();
        if status != ServingStatus::Serving {
            bail!("{} answers {}", a.url, status.as_str_name());
        }
        return Ok(());
    }
    if !(a.url.starts_with("http://") || a.url.starts_with("https://")) {
        bail!(
            "`{}` is neither an http(s):// URL nor a grpc:// address",
            a.url
        );
    }
    let resp = reqwest::get(&a.url)
        .await
        .with_context(|| format!("GET {}", a.url))?;
    if !resp.status().is_success() {
        bail!("GET {} answered {}", a.url, resp.status());
    }
    Ok(())
}
