//! Retry and error behaviour against a stand-in server: 429 and 5xx are
//! retried, other errors are not, MLflow's error_code is kept, and
//! credentials are sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use volspike_mlflow::{Auth, MlflowClient, MlflowConfig};

/// Serves `app` on a free port; returns its URI.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn client(uri: String, auth: Auth) -> MlflowClient {
    MlflowClient::new(MlflowConfig {
        auth,
        backoff: Duration::from_millis(5),
        max_retries: 3,
        ..MlflowConfig::new(uri)
    })
    .unwrap()
}

/// A server answering GET `path` with `answer(n)` for the n-th call (from
/// 0); returns its URI and the call counter.
async fn counting(
    path: &str,
    answer: fn(usize) -> (StatusCode, &'static str),
) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let app = Router::new().route(
        path,
        get(move || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move { answer(n) }
        }),
    );
    (serve(app).await, calls)
}

#[tokio::test]
async fn server_errors_and_throttling_are_retried_then_succeed() {
    let (uri, calls) = counting("/api/2.0/mlflow/registered-models/alias", |n| match n {
        0 => (StatusCode::SERVICE_UNAVAILABLE, ""),
        1 => (StatusCode::TOO_MANY_REQUESTS, ""),
        _ => (
            StatusCode::OK,
            r#"{"model_version":{"name":"m","version":"7"}}"#,
        ),
    })
    .await;
    let got = client(uri, Auth::None)
        .get_alias("m", "champion")
        .await
        .unwrap();
    assert_eq!(got, Some(7));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried_and_keep_the_error_code() {
    let (uri, calls) = counting("/api/2.0/mlflow/model-versions/get", |_| {
        (
            StatusCode::BAD_REQUEST,
            r#"{"error_code":"INVALID_PARAMETER_VALUE","message":"bad version"}"#,
        )
    })
    .await;
    let err = client(uri, Auth::None)
        .get_model_version("m", 1)
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("INVALID_PARAMETER_VALUE"));
    assert!(err.to_string().contains("bad version"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retries_stop_after_the_limit() {
    let (uri, calls) = counting("/api/2.0/mlflow/model-versions/get", |_| {
        (StatusCode::BAD_GATEWAY, "upstream down")
    })
    .await;
    let err = client(uri, Auth::None)
        .get_model_version("m", 1)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("502"), "{err}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "one call and three retries"
    );
}

#[tokio::test]
async fn bearer_and_basic_credentials_are_sent() {
    let app = Router::new().route(
        "/api/2.0/mlflow/registered-models/alias",
        get(|headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            if auth == "Bearer t0ken" || auth == "Basic dTpw" {
                (
                    StatusCode::OK,
                    r#"{"model_version":{"name":"m","version":"1"}}"#,
                )
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    r#"{"error_code":"UNAUTHENTICATED","message":"no"}"#,
                )
            }
        }),
    );
    let uri = serve(app).await;
    let bearer = client(uri.clone(), Auth::Bearer("t0ken".into()));
    assert_eq!(bearer.get_alias("m", "a").await.unwrap(), Some(1));
    let basic = client(
        uri.clone(),
        Auth::Basic {
            user: "u".into(),
            password: "p".into(),
        },
    );
    assert_eq!(basic.get_alias("m", "a").await.unwrap(), Some(1));
    let none = client(uri, Auth::None)
        .get_alias("m", "a")
        .await
        .unwrap_err();
    assert_eq!(none.error_code(), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = client(uri, Auth::None)
        .get_alias("m", "a")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unreachable"), "{err}");
}
