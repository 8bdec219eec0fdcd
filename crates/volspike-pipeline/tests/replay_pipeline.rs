//! Replay and the live path give the same rows, bit for bit.

mod common;

use std::time::Duration;

use volspike_pipeline::pipeline::{self, Input, PipelineOptions};
use volspike_replay::first_difference;
use volspike_replay::parquet::{canonicalize, read_rows, write_rows};
use volspike_replay::replay;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_equals_replay_on_every_shared_recording() {
    let Some(files) = volspike_replay::recordings::shared_recordings(env!("CARGO_MANIFEST_DIR"))
    else {
        return;
    };
    assert!(
        files.len() >= 8,
        "expected the shared recordings, found {files:?}"
    );
    let cfg = volspike_runtime::testing::config(5_000);

    let (mut want, counts) = replay(&files, &cfg.features).unwrap();
    canonicalize(&mut want).unwrap();
    assert!(want.len() > 50_000, "{counts:?}");
    assert_eq!(
        counts.invalid.values().sum::<u64>(),
        0,
        "the shared recordings are all readable: {counts:?}"
    );

    let opts = PipelineOptions {
        timeout: Duration::from_secs(300),
        ..PipelineOptions::default()
    };
    let got = pipeline::run(cfg, Input::Recordings(files), opts)
        .await
        .unwrap();
    assert_eq!(got.counts.lines, counts.lines);
    assert_eq!(got.counts.ticks, counts.ticks);
    assert_eq!(got.dlq, 0);
    assert_eq!(got.rows.len(), want.len());
    // Every float compared by its bits (== would take -0.0 for 0.0).
    assert_eq!(first_difference(&got.rows, &want), None);
}

#[test]
fn replay_twice_writes_identical_files() {
    let tmp = tempfile::tempdir().unwrap();
    let input = common::simulated(tmp.path(), 600, 3);
    let cfg = volspike_runtime::testing::config(5_000);
    let mut outputs = Vec::new();
    for i in 0..2 {
        let (mut rows, _) = replay(std::slice::from_ref(&input), &cfg.features).unwrap();
        canonicalize(&mut rows).unwrap();
        let path = tmp.path().join(format!("run{i}.parquet"));
        write_rows(&path, &rows).unwrap();
        outputs.push(std::fs::read(&path).unwrap());
        assert_eq!(
            read_rows(&path).unwrap(),
            rows,
            "parquet round-trips the rows exactly"
        );
    }
    assert_eq!(outputs[0], outputs[1]);
}
