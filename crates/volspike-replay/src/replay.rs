//! `volspike replay`: recordings -> features, in process, no Kafka.

use std::path::PathBuf;

use volspike_core::{FeatureRow, FieldMap, Tick};
use volspike_features::{EngineConfig, FeatureEngine, Outcome};

use crate::counts::Counts;
use crate::recordings::decode_files_mapped;

/// Runs the feature engine over recordings. Rows come out in input order;
/// [`crate::parquet::write_rows`] puts them in canonical order.
pub fn replay(
    files: &[PathBuf],
    engine_cfg: &EngineConfig,
) -> anyhow::Result<(Vec<FeatureRow>, Counts)> {
    replay_mapped(files, &FieldMap::default(), engine_cfg)
}

/// [`replay`] of recordings whose fields `fields` renames (`volspike
/// replay --field`).
pub fn replay_mapped(
    files: &[PathBuf],
    fields: &FieldMap,
    engine_cfg: &EngineConfig,
) -> anyhow::Result<(Vec<FeatureRow>, Counts)> {
    let mut engine = FeatureEngine::new(engine_cfg);
    let mut counts = Counts {
        files: files.len(),
        ..Counts::default()
    };
    let mut rows = Vec::new();
    decode_files_mapped(files, fields, |chunk| {
        for line in &chunk.lines {
            counts.line(line, files);
        }
        for tick in &chunk.ticks {
            for outcome in engine.push(tick) {
                match outcome {
                    Outcome::Row(row) => rows.push(row),
                    other => counts.outcome(&other),
                }
            }
        }
        Ok(())
    })?;
    counts.rows = rows.len() as u64;
    counts.held = engine.held_count() as u64;
    Ok((rows, counts))
}

/// Runs the feature engine over ticks already in memory (a simulated
/// market); returns the rows in input order and the ticks the engine skipped.
pub fn replay_ticks(ticks: &[Tick], engine_cfg: &EngineConfig) -> (Vec<FeatureRow>, Counts) {
    let mut engine = FeatureEngine::new(engine_cfg);
    let mut counts = Counts {
        ticks: ticks.len() as u64,
        ..Counts::default()
    };
    let mut rows = Vec::new();
    for tick in ticks {
        for outcome in engine.push(tick) {
            match outcome {
                Outcome::Row(row) => rows.push(row),
                other => counts.outcome(&other),
            }
        }
    }
    counts.rows = rows.len() as u64;
    counts.held = engine.held_count() as u64;
    (rows, counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two minutes of one product from a recorder whose names volspike
    /// does not know: `sym`, `px` and `exch_ts` (unix milliseconds).
    fn unseen_recorder() -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let lines: String = (0..120)
            .map(|i| {
                let ms = 1_775_337_223_000i64 + i * 1_000;
                let px = 100.0 + (i % 7) as f64 * 0.01;
                format!("{{\"sym\": \"BTC-USD\", \"px\": {px}, \"exch_ts\": {ms}}}\n")
            })
            .collect();
        std::fs::write(file.path(), lines).unwrap();
        file
    }

    #[test]
    fn replay_maps_a_recorder_s_own_field_names() {
        let file = unseen_recorder();
        let files = vec![file.path().to_owned()];
        let cfg = EngineConfig::default();
        let (rows, counts) = replay(&files, &cfg).unwrap();
        assert_eq!((rows.len(), counts.ticks), (0, 0));
        // Without the map no field it knows is there: an unknown shape.
        assert_eq!(counts.invalid.get("unknown_shape"), Some(&120));

        let mut fields = FieldMap::default();
        for spec in ["product_id=sym", "price=px", "timestamp=exch_ts"] {
            fields.add(spec).unwrap();
        }
        let (rows, counts) = replay_mapped(&files, &fields, &cfg).unwrap();
        assert_eq!((rows.len(), counts.ticks), (120, 120));
        assert!(counts.invalid.is_empty());
        assert_eq!(rows[0].event_time_ns, 1_775_337_223_000_000_000);
        assert_eq!(rows[119].event_time_ns, 1_775_337_342_000_000_000);
    }

    #[test]
    fn a_tick_stamped_2099_is_counted_and_silences_nothing() {
        let lines: Vec<String> = (0..1_000)
            .map(|i| {
                format!(
                    "{{\"product_id\":\"BTC-USD\",\"price\":\"{}\",\"timestamp\":\"2026-04-04T0{}:{:02}:{:02}Z\"}}\n",
                    67_000 + i % 11,
                    i / 3600,
                    i / 60 % 60,
                    i % 60
                )
            })
            .collect();
        let write = |lines: &[String]| {
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), lines.concat()).unwrap();
            file
        };
        let clean = write(&lines);
        let mut bad = lines.clone();
        bad.insert(
            400,
            "{\"product_id\":\"BTC-USD\",\"price\":\"1\",\"timestamp\":\"2099-01-01T00:00:00Z\"}\n"
                .into(),
        );
        let bad = write(&bad);
        let cfg = EngineConfig::default();
        let (want, _) = replay(&[clean.path().to_owned()], &cfg).unwrap();
        let (got, counts) = replay(&[bad.path().to_owned()], &cfg).unwrap();
        assert_eq!(want.len(), 1_000);
        assert_eq!(got, want);
        assert_eq!(counts.engine.get("unconfirmed_jump"), Some(&1));
        let line = counts
            .summary("replay", std::time::Duration::from_secs(1))
            .to_string();
        assert!(
            line.contains("engine_skipped=1(unconfirmed_jump:1)"),
            "{line}"
        );
    }
}
