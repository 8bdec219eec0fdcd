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
            match engine.push(tick) {
                Outcome::Row(row) => rows.push(row),
                other => counts.outcome(&other),
            }
        }
        Ok(())
    })?;
    counts.rows = rows.len() as u64;
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
        match engine.push(tick) {
            Outcome::Row(row) => rows.push(row),
            other => counts.outcome(&other),
        }
    }
    counts.rows = rows.len() as u64;
    (rows, counts)
}
