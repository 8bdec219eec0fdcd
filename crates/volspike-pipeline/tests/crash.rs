//! A featurizer dropped mid-run (no shutdown, no commit, no abort) and
//! restarted loses nothing and adds nothing.

mod common;

use std::time::Duration;

use volspike_pipeline::pipeline::{self, Input, PipelineOptions};
use volspike_replay::first_difference;
use volspike_replay::parquet::canonicalize;
use volspike_replay::replay;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_and_restart_gives_the_uninterrupted_rows() {
    let tmp = tempfile::tempdir().unwrap();
    // 15 minutes: windows are warm long before the crash point.
    let input = common::simulated(tmp.path(), 900, 11);
    // Small transactions so that the crash lands mid-stream with an open one.
    let cfg = volspike_runtime::testing::config(300);
    let (mut want, _) = replay(std::slice::from_ref(&input), &cfg.features).unwrap();
    canonicalize(&mut want).unwrap();

    let opts = PipelineOptions {
        featurizers: 1,
        crash_after: Some(6_000),
        timeout: Duration::from_secs(300),
        ..PipelineOptions::default()
    };
    let got = pipeline::run(cfg, Input::Recordings(vec![input]), opts)
        .await
        .unwrap();
    assert_eq!(got.crashes, 1, "the fault was injected");
    assert_eq!(got.rows.len(), want.len(), "no missing and no extra rows");
    // Every float compared by its bits (== would take -0.0 for 0.0).
    assert_eq!(first_difference(&got.rows, &want), None);
}
