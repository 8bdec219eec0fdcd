//! A malformed model forced onto a running server (written into the
//! registry behind the CLI's back and made champion): the server refuses to
//! load it, keeps serving the model it has and keeps answering.

mod common;

use std::time::Duration;

use common::{config, logistic, registry_with_two_versions, start, url};
use volspike_model::forest::{Tree, TreeNode};
use volspike_model::model::Params;
use volspike_model::registry::Registry as _;
use volspike_proto::volspike::v1 as pb;
use volspike_proto::volspike::v1::volatility_service_client::VolatilityServiceClient;

fn node(feature: u32, left: u32, right: u32) -> TreeNode {
    TreeNode {
        feature,
        threshold: 0.0,
        left,
        right,
        value: 0.5,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_champion_is_refused_and_the_old_model_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_with_two_versions(dir.path()).await;
    let (server, stop) = start(config(), registry.clone()).await;
    let mut api = VolatilityServiceClient::connect(url(&server))
        .await
        .unwrap();
    let version = |info: pb::ModelInfo| info.model.unwrap().version;
    let info = api.get_model(pb::GetModelRequest {}).await.unwrap();
    assert_eq!(version(info.into_inner()), "1");

    // Version 2 becomes a forest whose node 1 is its own left child, with a
    // split on input 9 of 3 besides: scoring it would spin or panic.
    let mut bad = logistic([1.0, 1.0, 1.0], 0.0, 0.5);
    bad.model.params = Params::Forest {
        trees: vec![Tree {
            nodes: vec![node(0, 1, 2), node(9, 1, 2), node(0, 0, 0)],
        }],
    };
    bad.save(&dir.path().join("volspike/v2/model.json"))
        .unwrap();
    registry.promote("volspike", 2).await.unwrap();

    // The server polls every 200 ms; over two seconds it tries several times.
    let row = pb::FeatureRow {
        values: vec![1.2e-4, 41.0, 0.8],
        ..Default::default()
    };
    let want = logistic([1.5, 0.5, -0.3], -1.0, 0.5)
        .model
        .score(&row.values);
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let score = api
            .score(pb::ScoreRequest {
                row: Some(row.clone()),
            })
            .await
            .expect("still answering")
            .into_inner();
        assert_eq!(score.model.unwrap().version, "1");
        assert_eq!(score.probability, want);
    }
    let info = api.get_model(pb::GetModelRequest {}).await.unwrap();
    assert_eq!(version(info.into_inner()), "1");
    stop.cancel();
    server.wait().await.unwrap();
}
