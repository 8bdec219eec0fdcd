//! The gRPC services in-process: scores agree across our API and the Open
//! Inference Protocol, bad input is INVALID_ARGUMENT with details, TLS and
//! bearer tokens, health, and the model hot swap under load.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{INPUTS, config, logistic, registry_with_two_versions, start, url};
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt as _;
use volspike_inference::LoadedModel;
use volspike_model::registry::Registry as _;
use volspike_proto::inference as oip;
use volspike_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use volspike_proto::volspike::v1 as pb;
use volspike_proto::volspike::v1::volatility_service_client::VolatilityServiceClient;

fn named(values: [f64; 3]) -> pb::FeatureRow {
    pb::FeatureRow {
        named: INPUTS.iter().map(|s| s.to_string()).zip(values).collect(),
        ..Default::default()
    }
}

fn ordered(values: &[f64]) -> pb::FeatureRow {
    pb::FeatureRow {
        values: values.to_vec(),
        ..Default::default()
    }
}

fn score_req(row: pb::FeatureRow) -> pb::ScoreRequest {
    pb::ScoreRequest { row: Some(row) }
}

fn infer_raw(rows: &[[f64; 3]]) -> oip::ModelInferRequest {
    oip::ModelInferRequest {
        model_name: "volspike".into(),
        id: "req-1".into(),
        inputs: vec![oip::model_infer_request::InferInputTensor {
            name: "features".into(),
            datatype: "FP64".into(),
            shape: vec![rows.len() as i64, 3],
            ..Default::default()
        }],
        raw_input_contents: vec![
            rows.iter()
                .flatten()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ],
        ..Default::default()
    }
}

const ROWS: [[f64; 3]; 3] = [
    [1.2e-4, 41.0, 0.8],
    [0.5e-4, 12.0, 2.0],
    [3.0e-4, 80.0, 0.3],
];

#[tokio::test]
async fn our_api_and_the_open_inference_protocol_give_the_models_scores() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_with_two_versions(dir.path()).await;
    let expected = registry.load("volspike", 1).await.unwrap().model;
    let (server, stop) = start(config(), registry).await;
    let mut api = VolatilityServiceClient::connect(url(&server))
        .await
        .unwrap();

    let info = api
        .get_model(pb::GetModelRequest {})
        .await
        .unwrap()
        .into_inner();
    let model = info.model.clone().unwrap();
    assert_eq!(
        (
            model.name.as_str(),
            model.version.as_str(),
            model.kind.as_str()
        ),
        ("volspike", "1", "logistic")
    );
    assert_eq!(info.alias, "champion");
    assert_eq!(info.feature_names, INPUTS);
    assert_eq!(info.label_kind, "absolute");
    assert_eq!(info.label_horizon_seconds, 60.0);
    assert!(
        info.test_metrics.contains_key("pr_auc"),
        "{:?}",
        info.test_metrics
    );

    for row in ROWS {
        let want = expected.score(&row);
        let by_name = api.score(score_req(named(row))).await.unwrap().into_inner();
        let by_order = api
            .score(score_req(ordered(&row)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(by_name.probability, want);
        assert_eq!(by_order.probability, want);
        assert_eq!(by_name.spike, want >= 0.5);
        assert_eq!(by_name.threshold, 0.5);
        assert_eq!(by_name.model.unwrap().version, "1");
    }
    let batch = api
        .score_batch(pb::ScoreBatchRequest {
            rows: ROWS.iter().map(|r| ordered(r)).collect(),
        })
        .await
        .unwrap()
        .into_inner();
    let got: Vec<f64> = batch.scores.iter().map(|s| s.probability).collect();
    let want: Vec<f64> = ROWS.iter().map(|r| expected.score(r)).collect();
    assert_eq!(got, want);

    let mut client = GrpcInferenceServiceClient::connect(url(&server))
        .await
        .unwrap();
    assert!(
        client
            .server_live(oip::ServerLiveRequest {})
            .await
            .unwrap()
            .into_inner()
            .live
    );
    assert!(
        client
            .server_ready(oip::ServerReadyRequest {})
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    let ready = client
        .model_ready(oip::ModelReadyRequest {
            name: "volspike".into(),
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ready.ready);
    let meta = client
        .model_metadata(oip::ModelMetadataRequest {
            name: "volspike".into(),
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(meta.versions, ["1"]);
    assert_eq!(meta.inputs[0].shape, [-1, 3]);
    let out = client
        .model_infer(infer_raw(&ROWS))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.id, "req-1");
    assert_eq!(out.model_version, "1");
    assert_eq!(out.outputs[0].name, "probability");
    let probs: Vec<f64> = out.raw_output_contents[0]
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(probs, want);
    let spikes: Vec<bool> = out.raw_output_contents[1].iter().map(|&b| b == 1).collect();
    assert_eq!(spikes, want.iter().map(|&p| p >= 0.5).collect::<Vec<_>>());

    // Typed FP32 contents, one output asked for.
    let mut typed = infer_raw(&ROWS);
    typed.raw_input_contents.clear();
    typed.inputs[0].datatype = "FP32".into();
    typed.inputs[0].contents = Some(oip::InferTensorContents {
        fp32_contents: ROWS.iter().flatten().map(|&v| v as f32).collect(),
        ..Default::default()
    });
    typed.outputs = vec![oip::model_infer_request::InferRequestedOutputTensor {
        name: "spike".into(),
        ..Default::default()
    }];
    let out = client.model_infer(typed).await.unwrap().into_inner();
    assert_eq!(out.outputs.len(), 1);
    assert_eq!(out.outputs[0].datatype, "BOOL");

    let mut health = HealthClient::new(
        Channel::from_shared(url(&server))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    for service in [
        "",
        "volspike.v1.VolatilityService",
        "inference.GRPCInferenceService",
    ] {
        let h = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(h.status(), ServingStatus::Serving, "{service}");
    }
    stop.cancel();
    server.wait().await.unwrap();
}

/// Asserts `INVALID_ARGUMENT` whose BadRequest detail names `field`.
fn assert_invalid(r: Result<impl std::fmt::Debug, tonic::Status>, field: &str) {
    let status = r.expect_err("bad input must be refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status
        .get_details_bad_request()
        .expect("a BadRequest detail");
    assert!(
        details.field_violations.iter().any(|v| v.field == field),
        "no violation of `{field}` in {:?}",
        details.field_violations
    );
}

#[tokio::test]
async fn bad_input_is_invalid_argument_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.inference.max_batch = 4;
    let (server, stop) = start(cfg, registry_with_two_versions(dir.path()).await).await;
    let mut api = VolatilityServiceClient::connect(url(&server))
        .await
        .unwrap();

    assert_invalid(
        api.score(score_req(ordered(&[1.0, 2.0]))).await,
        "row.values",
    );
    assert_invalid(
        api.score(score_req(ordered(&[1.0, f64::NAN, 3.0]))).await,
        "row.values[1]",
    );
    assert_invalid(
        api.score(score_req(ordered(&[1.0, 2.0, f64::INFINITY])))
            .await,
        "row.values[2]",
    );
    let mut typo = named([1e-4, 30.0, 1.0]);
    let v = typo.named.remove("trade_intensity").unwrap();
    typo.named.insert("trade_intensty".into(), v);
    let r = api.score(score_req(typo)).await;
    assert_invalid(r, "row.named[trade_intensty]");
    let mut missing = named([1e-4, 30.0, 1.0]);
    missing.named.remove("bid_ask_spread_bps");
    assert_invalid(
        api.score(score_req(missing)).await,
        "row.named[bid_ask_spread_bps]",
    );
    let mut both = named([1e-4, 30.0, 1.0]);
    both.values = vec![1.0, 2.0, 3.0];
    assert_invalid(api.score(score_req(both)).await, "row");
    assert_invalid(api.score(score_req(pb::FeatureRow::default())).await, "row");
    assert_invalid(api.score(pb::ScoreRequest { row: None }).await, "row");
    assert_invalid(
        api.score_batch(pb::ScoreBatchRequest { rows: vec![] })
            .await,
        "rows",
    );
    let five = pb::ScoreBatchRequest {
        rows: vec![ordered(&ROWS[0]); 5],
    };
    assert_invalid(api.score_batch(five).await, "rows");
    let mut bad_third = vec![ordered(&ROWS[0]); 3];
    bad_third[2].values[0] = f64::NEG_INFINITY;
    assert_invalid(
        api.score_batch(pb::ScoreBatchRequest { rows: bad_third })
            .await,
        "rows[2].values[0]",
    );
    assert_invalid(
        api.get_score(pb::GetScoreRequest {
            product_id: "DOGE-USD".into(),
        })
        .await,
        "product_id",
    );
    assert_invalid(
        api.get_score(pb::GetScoreRequest::default()).await,
        "product_id",
    );

    let mut client = GrpcInferenceServiceClient::connect(url(&server))
        .await
        .unwrap();
    let mut short = infer_raw(&ROWS[..2]);
    short.raw_input_contents[0].pop();
    assert_invalid(client.model_infer(short).await, "raw_input_contents[0]");
    let mut shape = infer_raw(&ROWS[..2]);
    shape.inputs[0].shape = vec![2, 4];
    assert_invalid(client.model_infer(shape).await, "inputs[0].shape");
    let mut one_d = infer_raw(&ROWS[..2]);
    one_d.inputs[0].shape = vec![6];
    assert_invalid(client.model_infer(one_d).await, "inputs[0].shape");
    let mut dtype = infer_raw(&ROWS[..2]);
    dtype.inputs[0].datatype = "INT64".into();
    assert_invalid(client.model_infer(dtype).await, "inputs[0].datatype");
    let mut name = infer_raw(&ROWS[..2]);
    name.inputs[0].name = "x".into();
    assert_invalid(client.model_infer(name).await, "inputs[0].name");
    assert_invalid(
        client.model_infer(infer_raw(&[[1.0, f64::NAN, 0.0]])).await,
        "inputs[0][0][1]",
    );
    assert_invalid(
        client.model_infer(infer_raw(&[ROWS[0]; 5])).await,
        "inputs[0].shape",
    );
    let mut no_data = infer_raw(&ROWS[..1]);
    no_data.raw_input_contents.clear();
    assert_invalid(client.model_infer(no_data).await, "inputs[0].contents");
    let mut output = infer_raw(&ROWS[..1]);
    output.outputs = vec![oip::model_infer_request::InferRequestedOutputTensor {
        name: "logits".into(),
        ..Default::default()
    }];
    assert_invalid(client.model_infer(output).await, "outputs[0].name");
    let mut unknown = infer_raw(&ROWS[..1]);
    unknown.model_name = "other".into();
    assert_eq!(
        client.model_infer(unknown).await.unwrap_err().code(),
        Code::NotFound
    );

    // Over the message size limit: refused before it is decoded.
    let huge = pb::ScoreRequest {
        row: Some(ordered(&vec![0.5; 600_000])),
    };
    let status = api.score(huge).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");

    // The server is fine after all of that.
    assert!(api.score(score_req(ordered(&ROWS[0]))).await.is_ok());
    stop.cancel();
    server.wait().await.unwrap();
}

/// A client that sends `authorization: Bearer TOKEN`.
fn with_bearer(
    channel: Channel,
    token: &str,
) -> VolatilityServiceClient<
    tonic::service::interceptor::InterceptedService<Channel, impl tonic::service::Interceptor>,
> {
    let value: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    VolatilityServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
        r.metadata_mut().insert("authorization", value.clone());
        Ok(r)
    })
}

#[tokio::test]
async fn tls_and_a_bearer_token_guard_every_service_but_health() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_path = dir.path().join("server.pem");
    let key_path = dir.path().join("server.key");
    std::fs::write(&cert_path, key.cert.pem()).unwrap();
    std::fs::write(&key_path, key.signing_key.serialize_pem()).unwrap();
    let mut cfg = config();
    cfg.inference.tls_cert = Some(cert_path);
    cfg.inference.tls_key = Some(key_path);
    cfg.inference.auth_token = Some(serde_json::from_str("\"s3cret\"").unwrap());
    let (server, stop) = start(
        cfg,
        registry_with_two_versions(&dir.path().join("models")).await,
    )
    .await;

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(key.cert.pem()))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{}", server.grpc_addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();

    let mut anonymous = VolatilityServiceClient::new(channel.clone());
    let err = anonymous
        .get_model(pb::GetModelRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let mut wrong = with_bearer(channel.clone(), "s3cre");
    assert_eq!(
        wrong
            .get_model(pb::GetModelRequest {})
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let mut authed = with_bearer(channel.clone(), "s3cret");
    assert_eq!(
        authed
            .get_model(pb::GetModelRequest {})
            .await
            .unwrap()
            .into_inner()
            .model
            .unwrap()
            .version,
        "1"
    );
    let mut oip_anonymous = GrpcInferenceServiceClient::new(channel.clone());
    assert_eq!(
        oip_anonymous
            .model_infer(infer_raw(&ROWS))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    // Probes carry no token.
    let mut health = HealthClient::new(channel);
    let h = health
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(h.status(), ServingStatus::Serving);

    // Plaintext to the TLS port fails.
    let mut plain = VolatilityServiceClient::connect(url(&server))
        .await
        .unwrap();
    assert!(plain.get_model(pb::GetModelRequest {}).await.is_err());
    stop.cancel();
    server.wait().await.unwrap();
}

#[tokio::test]
async fn health_is_not_serving_until_a_champion_exists_then_serving() {
    let dir = tempfile::tempdir().unwrap();
    let registry = volspike_model::registry::LocalRegistry::new(dir.path());
    let (server, stop) = start(config(), registry.clone()).await;
    let mut health = HealthClient::new(
        Channel::from_shared(url(&server))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "volspike.v1.VolatilityService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::NotServing);
    let mut api = VolatilityServiceClient::connect(url(&server))
        .await
        .unwrap();
    let err = api.score(score_req(ordered(&ROWS[0]))).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);

    registry
        .register("volspike", &logistic([1.0, 1.0, 1.0], 0.0, 0.5))
        .await
        .unwrap();
    registry.promote("volspike", 1).await.unwrap();
    // The server re-reads the registry every 200 ms.
    let next = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("SERVING within 10 s")
        .unwrap()
        .unwrap();
    assert_eq!(next.status(), ServingStatus::Serving);
    assert!(api.score(score_req(ordered(&ROWS[0]))).await.is_ok());

    stop.cancel();
    // Shutting down: NOT_SERVING first.
    let last = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("a status within 10 s of shutdown")
        .unwrap()
        .unwrap();
    assert_eq!(last.status(), ServingStatus::NotServing);
    // The open Watch stream does not hold the shutdown beyond the grace time.
    server.wait().await.unwrap();
    drop(watch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_swap_under_load_fails_nothing_and_never_mixes_models() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_with_two_versions(dir.path()).await;
    let files = [
        registry.load("volspike", 1).await.unwrap(),
        registry.load("volspike", 2).await.unwrap(),
    ];
    let (server, stop) = start(config(), registry).await;
    let expected: HashMap<String, (f64, Vec<f64>)> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let scores = ROWS.iter().map(|r| f.model.score(r)).collect();
            ((i + 1).to_string(), (f.model.threshold, scores))
        })
        .collect();
    let expected = Arc::new(expected);
    let running = Arc::new(AtomicBool::new(true));
    let (ok, per_version) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new([AtomicU64::new(0), AtomicU64::new(0)]),
    );
    let channel = Channel::from_shared(url(&server))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut clients = Vec::new();
    for c in 0..8 {
        let (channel, running, expected, ok, per_version) = (
            channel.clone(),
            running.clone(),
            expected.clone(),
            ok.clone(),
            per_version.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut api = VolatilityServiceClient::new(channel.clone());
            let mut oip_client = GrpcInferenceServiceClient::new(channel);
            let mut i = 0usize;
            while running.load(Ordering::Relaxed) {
                i += 1;
                let row = ROWS[i % 3];
                if c % 2 == 0 {
                    let s = api
                        .score(score_req(ordered(&row)))
                        .await
                        .expect("no request fails")
                        .into_inner();
                    let v = s.model.unwrap().version;
                    let (threshold, scores) = &expected[&v];
                    assert_eq!(
                        s.probability,
                        scores[i % 3],
                        "version {v} with another model's score"
                    );
                    assert_eq!(
                        s.threshold, *threshold,
                        "version {v} with another model's threshold"
                    );
                    per_version[v.parse::<usize>().unwrap() - 1].fetch_add(1, Ordering::Relaxed);
                } else {
                    let b = api
                        .score_batch(pb::ScoreBatchRequest {
                            rows: ROWS.iter().map(|r| ordered(r)).collect(),
                        })
                        .await
                        .expect("no request fails")
                        .into_inner();
                    let v = b.scores[0].model.clone().unwrap().version;
                    let (_, scores) = &expected[&v];
                    for (s, want) in b.scores.iter().zip(scores) {
                        assert_eq!(
                            s.model.as_ref().unwrap().version,
                            v,
                            "one batch, two models"
                        );
                        assert_eq!(s.probability, *want);
                    }
                    let out = oip_client
                        .model_infer(infer_raw(&ROWS))
                        .await
                        .expect("no request fails")
                        .into_inner();
                    let (_, scores) = &expected[&out.model_version];
                    let got: Vec<f64> = out.raw_output_contents[0]
                        .chunks_exact(8)
                        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                        .collect();
                    assert_eq!(&got, scores, "OIP response mixes models");
                }
                ok.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for k in 0..200 {
        let v = k % 2;
        let file = files[v].clone();
        server
            .state
            .slot
            .swap(LoadedModel::new(file, "volspike", Some(v as u64 + 1), "champion").unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.store(false, Ordering::Relaxed);
    for c in clients {
        c.await.expect("a client saw a failure");
    }
    let (a, b) = (
        per_version[0].load(Ordering::Relaxed),
        per_version[1].load(Ordering::Relaxed),
    );
    assert!(a > 0 && b > 0, "both versions answered (v1 {a}, v2 {b})");
    assert!(
        ok.load(Ordering::Relaxed) > 400,
        "{} requests",
        ok.load(Ordering::Relaxed)
    );
    stop.cancel();
    server.wait().await.unwrap();
}

fn prediction(product: &str, i: i64) -> volspike_core::Prediction {
    let model = volspike_core::ModelId {
        name: "volspike".into(),
        version: "1".into(),
        kind: "logistic".into(),
    };
    volspike_core::Prediction {
        schema_version: 1,
        prediction_id: volspike_core::prediction_id(product, i, 0, &model),
        product_id: product.into(),
        event_time_ns: i,
        tie: 0,
        features: Default::default(),
        probability: 0.25,
        spike: false,
        threshold: 0.5,
        model,
    }
}

// One thread: the 10,000 events below are sent before the server's stream
// task can run, so the watcher falls behind every time.
#[tokio::test(flavor = "current_thread")]
async fn watch_scores_streams_the_products_asked_for_and_a_slow_watcher_gets_data_loss() {
    use volspike_inference::live::LiveEvent;
    let dir = tempfile::tempdir().unwrap();
    let (server, stop) = start(config(), registry_with_two_versions(dir.path()).await).await;
    let mut api = VolatilityServiceClient::connect(url(&server))
        .await
        .unwrap();
    let mut btc = api
        .watch_scores(pb::WatchScoresRequest {
            product_ids: vec!["BTC-USD".into()],
            alerts_only: false,
        })
        .await
        .unwrap()
        .into_inner();
    let mut alerts = api
        .watch_scores(pb::WatchScoresRequest {
            product_ids: vec![],
            alerts_only: true,
        })
        .await
        .unwrap()
        .into_inner();
    // The subscriptions exist once the server has answered them.
    while server.state.events.receiver_count() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let events = &server.state.events;
    events
        .send(Arc::new(LiveEvent::Scored(prediction("ETH-USD", 1))))
        .unwrap();
    events
        .send(Arc::new(LiveEvent::Scored(prediction("BTC-USD", 2))))
        .unwrap();
    let p = prediction("ETH-USD", 3);
    let alert = volspike_core::Alert {
        schema_version: 1,
        alert_id: p.prediction_id.clone(),
        product_id: p.product_id.clone(),
        event_time_ns: 3,
        tie: 0,
        probability: 0.9,
        threshold: 0.5,
        model: p.model.clone(),
    };
    events.send(Arc::new(LiveEvent::Alert(alert))).unwrap();

    use pb::watch_scores_response::Event;
    match btc.message().await.unwrap().unwrap().event.unwrap() {
        Event::Score(s) => assert_eq!(
            (s.product_id.as_str(), s.feature_time.unwrap().nanos),
            ("BTC-USD", 2)
        ),
        other => panic!("expected BTC-USD's score, got {other:?}"),
    }
    match alerts.message().await.unwrap().unwrap().event.unwrap() {
        Event::Alert(a) => assert_eq!(a.alert_id, "ETH-USD/3/0/volspike/1"),
        other => panic!("expected the alert only, got {other:?}"),
    }
    // A watcher that does not read falls behind and is told so.
    for i in 0..10_000 {
        let _ = events.send(Arc::new(LiveEvent::Scored(prediction("BTC-USD", 10 + i))));
    }
    let mut lost = None;
    for _ in 0..10_001 {
        let next = tokio::time::timeout(Duration::from_secs(10), btc.message())
            .await
            .expect("the stream neither went on nor ended");
        match next {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(status) => {
                lost = Some(status);
                break;
            }
        }
    }
    assert_eq!(
        lost.expect("DATA_LOSS, not a silent gap").code(),
        Code::DataLoss
    );
    drop((btc, alerts));
    stop.cancel();
    server.wait().await.unwrap();
}
