//! Malformed lines are counted by reason, land in the DLQ on the live path,
//! and never stop a run.

mod common;

use std::io::Write;
use std::time::Duration;

use volspike_pipeline::pipeline::{self, Input, PipelineOptions};
use volspike_replay::first_difference;
use volspike_replay::parquet::canonicalize;
use volspike_replay::replay;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_lines_are_counted_dead_lettered_and_survived() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = std::fs::read(common::simulated(tmp.path(), 120, 5)).unwrap();
    let bad: [&[u8]; 5] = [
        br#"{"channel": "ticker", "timestamp": "2026-01-01T00:00:01Z", "events": [{"tickers": [{"product_id": "BTC"#,
        br#"{"product_id": "BTC-USD", "price": ["67000"], "timestamp": "2026-01-01T00:00:01Z"}"#,
        b"\x00\x9f\x92\x96\xff garbage \x01",
        br#"{"hello": "world", "n": 1}"#,
        br#"{"product_id": "BTC-USD", "price": "67000"}"#,
    ];
    let path = tmp.path().join("mixed.ndjson");
    let mut f = std::fs::File::create(&path).unwrap();
    for (i, line) in clean
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        f.write_all(line).unwrap();
        f.write_all(b"\n").unwrap();
        if i % 97 == 0 {
            f.write_all(bad[(i / 97) % bad.len()]).unwrap();
            f.write_all(b"\n").unwrap();
        }
    }
    drop(f);
    let cfg = volspike_runtime::testing::config(1_000);

    let (mut want, counts) = replay(std::slice::from_ref(&path), &cfg.features).unwrap();
    canonicalize(&mut want).unwrap();
    let invalid: u64 = counts.invalid.values().sum();
    assert!(invalid >= 10, "{counts:?}");
    for reason in [
        "invalid_json",
        "wrong_type",
        "unknown_shape",
        "missing_field",
    ] {
        assert!(
            counts.invalid.get(reason).copied().unwrap_or(0) > 0,
            "no {reason} in {counts:?}"
        );
    }
    let summary = counts.summary("replay", Duration::from_secs(1)).to_string();
    assert!(summary.contains("invalid_json:"), "{summary}");

    let opts = PipelineOptions {
        timeout: Duration::from_secs(120),
        ..PipelineOptions::default()
    };
    let got = pipeline::run(cfg, Input::Recordings(vec![path]), opts)
        .await
        .unwrap();
    assert_eq!(got.dlq, invalid, "every unreadable line is in the DLQ");
    assert_eq!(got.counts.invalid, counts.invalid);
    // The good lines all became features, every float equal by its bits.
    assert_eq!(first_difference(&got.rows, &want), None);
}
