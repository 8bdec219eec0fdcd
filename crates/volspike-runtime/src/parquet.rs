//! Feature rows to and from parquet, with polars.
//!
//! Every writer of feature parquet goes through [`write_rows`], which puts
//! rows in canonical order (product, event time, tie) and drops exact
//! re-emissions of a row (same key): `volspike replay` and `volspike
//! pipeline` therefore write the same layout, and duplicates that a crashed
//! featurizer re-emitted never reach a file. Two rows with one key but
//! different content mean the featurizer was not deterministic; that is an
//! error, not something to paper over.

use std::fs::File;
use std::path::Path;

use anyhow::{Context as _, bail};
use polars::prelude::{
    Column, DataFrame, ParquetCompression, ParquetReader, ParquetWriter, SerReader,
};
use volspike_core::{FEATURE_NAMES, FEATURE_SCHEMA_VERSION, FeatureRow, Feed};

/// Sorts rows by key and removes exact duplicates. Returns how many were removed.
pub fn canonicalize(rows: &mut Vec<FeatureRow>) -> anyhow::Result<usize> {
    rows.sort_by(|a, b| a.key().cmp(&b.key()));
    let before = rows.len();
    let mut conflict = None;
    rows.dedup_by(|later, kept| {
        if later.key() != kept.key() {
            return false;
        }
        if later != kept && conflict.is_none() {
            conflict = Some(format!("{:?}", kept.key()));
        }
        true
    });
    if let Some(key) = conflict {
        bail!("two different feature rows share the key {key}: output was not deterministic");
    }
    Ok(before - rows.len())
}

/// Writes rows (canonicalized first) to a parquet file. Returns rows written
/// and exact duplicates dropped.
pub fn write_rows(path: &Path, rows: &mut Vec<FeatureRow>) -> anyhow::Result<(usize, usize)> {
    let dropped = canonicalize(rows)?;
    let mut df = to_frame(rows)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Snappy)
        .finish(&mut df)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((rows.len(), dropped))
}

fn to_frame(rows: &[FeatureRow]) -> anyhow::Result<DataFrame> {
    let mut cols: Vec<Column> = vec![
        Column::new(
            "product_id".into(),
            rows.iter()
                .map(|r| r.product_id.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "event_time_ns".into(),
            rows.iter().map(|r| r.event_time_ns).collect::<Vec<_>>(),
        ),
        Column::new("tie".into(), rows.iter().map(|r| r.tie).collect::<Vec<_>>()),
        Column::new(
            "sequence".into(),
            rows.iter().map(|r| r.sequence).collect::<Vec<_>>(),
        ),
        Column::new(
            "trade_id".into(),
            rows.iter().map(|r| r.trade_id).collect::<Vec<_>>(),
        ),
        Column::new(
            "feed".into(),
            rows.iter().map(|r| r.feed.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "segment_start".into(),
            rows.iter().map(|r| r.segment_start).collect::<Vec<_>>(),
        ),
        Column::new(
            "warm".into(),
            rows.iter().map(|r| r.warm).collect::<Vec<_>>(),
        ),
        Column::new(
            "price".into(),
            rows.iter().map(|r| r.price).collect::<Vec<_>>(),
        ),
    ];
    let values: Vec<_> = rows.iter().map(FeatureRow::values).collect();
    for (i, name) in FEATURE_NAMES.iter().enumerate() {
        cols.push(Column::new(
            (*name).into(),
            values.iter().map(|v| v[i]).collect::<Vec<Option<f64>>>(),
        ));
    }
    DataFrame::new_infer_height(cols).context("building the feature frame")
}

/// Reads a feature parquet file written by [`write_rows`].
pub fn read_rows(path: &Path) -> anyhow::Result<Vec<FeatureRow>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let df = ParquetReader::new(file)
        .finish()
        .with_context(|| format!("reading {}", path.display()))?;
    let n = df.height();
    let col = |name: &str| {
        df.column(name)
            .with_context(|| format!("{}: no column {name}", path.display()))
    };
    let product: Vec<Option<&str>> = col("product_id")?.str()?.iter().collect();
    let time: Vec<Option<i64>> = col("event_time_ns")?.i64()?.iter().collect();
    let tie: Vec<Option<u32>> = col("tie")?.u32()?.iter().collect();
    let sequence: Vec<Option<u64>> = col("sequence")?.u64()?.iter().collect();
    let trade_id: Vec<Option<u64>> = col("trade_id")?.u64()?.iter().collect();
    let feed: Vec<Option<&str>> = col("feed")?.str()?.iter().collect();
    let seg: Vec<Option<bool>> = col("segment_start")?.bool()?.iter().collect();
    let warm: Vec<Option<bool>> = col("warm")?.bool()?.iter().collect();
    let price: Vec<Option<f64>> = col("price")?.f64()?.iter().collect();
    let mut features = Vec::new();
    for name in FEATURE_NAMES {
        features.push(col(name)?.f64()?.iter().collect::<Vec<Option<f64>>>());
    }
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let f = |k: usize| features[k][i];
        let feed = match feed[i] {
            Some("exchange") => Feed::Exchange,
            Some("advanced_trade") => Feed::AdvancedTrade,
            other => bail!("{}: row {i}: unknown feed {other:?}", path.display()),
        };
        rows.push(FeatureRow {
            schema_version: FEATURE_SCHEMA_VERSION,
            product_id: product[i].context("null product_id")?.to_owned(),
            event_time_ns: time[i].context("null event_time_ns")?,
            tie: tie[i].context("null tie")?,
            sequence: sequence[i],
            trade_id: trade_id[i],
            feed,
            segment_start: seg[i].context("null segment_start")?,
            warm: warm[i].context("null warm")?,
            price: price[i].context("null price")?,
            log_return: f(0),
            price_return_1min: f(1),
            price_return_5min: f(2),
            price_volatility_1min: f(3),
            price_volatility_5min: f(4),
            volatility_ratio: f(5),
            bid_ask_spread: f(6),
            bid_ask_spread_bps: f(7),
            order_book_imbalance: f(8),
            volume_24h_pct_change: f(9),
            trade_intensity: f(10),
            tick_count_5min: f(11),
            high_low_range_5min: f(12),
            time_since_prev_tick_s: f(13),
            mid_price: f(14),
        });
    }
    Ok(rows)
}
