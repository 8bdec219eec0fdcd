//! `volspike replay`: recordings -> features, in process, no Kafka.

use std::path::PathBuf;

use volspike_core::FeatureRow;
use volspike_features::{EngineConfig, FeatureEngine, Outcome};

use crate::input::decode_files;
use crate::summary::Counts;

/// Runs the feature engine over recordings. Rows come out in input order;
/// [`volspike_runtime::parquet::write_rows`] puts them in canonical order.
pub fn replay(
    files: &[PathBuf],
    engine_cfg: &EngineConfig,
) -> anyhow::Result<(Vec<FeatureRow>, Counts)> {
    let mut engine = FeatureEngine::new(engine_cfg);
    let mut counts = Counts {
        files: files.len(),
        ..Counts::default()
    };
    let mut rows = Vec::new();
    decode_files(files, |chunk| {
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
