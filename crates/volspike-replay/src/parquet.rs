//! Feature rows to and from parquet, with polars.
//!
//! Every writer of feature parquet goes through [`write_rows`], which puts
//! rows in canonical order (product, event time, tie) and drops exact
//! re-emissions of a row (same key): `volspike replay` and `volspike
//! pipeline` therefore write the same layout, and duplicates that a crashed
//! featurizer re-emitted never reach a file. Two rows with one key but
//! different content mean the featurizer was not deterministic; that is an
//! error, not something to paper over.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use anyhow::{Context as _, bail};
use polars::prelude::{
    ChunkedBuilder, Column, DataFrame, Float64Type, IntoColumn, ParquetCompression, ParquetReader,
    ParquetWriter, PrimitiveChunkedBuilder, SerReader,
};
use volspike_core::{FEATURE_NAMES, FEATURE_SCHEMA_VERSION, FeatureRow, Feed};

/// Sorts rows by key and removes exact duplicates. Returns how many were removed.
pub fn canonicalize(rows: &mut Vec<FeatureRow>) -> anyhow::Result<usize> {
    let order = canonical_order(rows)?;
    let dropped = rows.len() - order.len();
    let mut slots: Vec<Option<FeatureRow>> = std::mem::take(rows).into_iter().map(Some).collect();
    rows.extend(
        order
            .iter()
            .map(|&i| slots[i as usize].take().expect("indices are distinct")),
    );
    Ok(dropped)
}

/// Indices of `rows` in canonical order (product, event time, tie), one per
/// key. Rows sharing a key must be equal (a re-emission); otherwise the
/// output was not deterministic and this is an error.
///
/// The engine emits each product's rows in key order, so the common case is
/// a stable bucketing by product plus a check, with no comparison sort and
/// no row moved; anything else (merged or re-emitted output) is sorted.
pub fn canonical_order(rows: &[FeatureRow]) -> anyhow::Result<Vec<u32>> {
    let n = u32::try_from(rows.len()).context("more than 2^32 feature rows in one file")?;
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut product: Vec<u32> = Vec::with_capacity(rows.len());
    for r in rows {
        let next = ids.len() as u32;
        product.push(*ids.entry(r.product_id.as_str()).or_insert(next));
    }
    // Product ids in name order, and each row's rank among them.
    let mut names: Vec<(&str, u32)> = ids.into_iter().collect();
    names.sort_unstable();
    let mut rank = vec![0u32; names.len()];
    for (r, &(_, id)) in names.iter().enumerate() {
        rank[id as usize] = r as u32;
    }
    let mut counts = vec![0usize; names.len() + 1];
    for p in &mut product {
        *p = rank[*p as usize];
        counts[*p as usize + 1] += 1;
    }
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    let mut order = vec![0u32; rows.len()];
    for (i, &p) in (0..n).zip(&product) {
        order[counts[p as usize]] = i;
        counts[p as usize] += 1;
    }
    let key = |i: u32| {
        let r = &rows[i as usize];
        (product[i as usize], r.event_time_ns, r.tie)
    };
    if order.windows(2).all(|w| key(w[0]) < key(w[1])) {
        return Ok(order);
    }
    order.sort_by_key(|&i| key(i));
    let mut conflict = None;
    order.dedup_by(|later, kept| {
        if key(*later) != key(*kept) {
            return false;
        }
        if rows[*later as usize] != rows[*kept as usize] && conflict.is_none() {
            conflict = Some(format!("{:?}", rows[*kept as usize].key()));
        }
        true
    });
    if let Some(key) = conflict {
        bail!("two different feature rows share the key {key}: output was not deterministic");
    }
    Ok(order)
}

/// Writes rows to a parquet file in canonical order without exact
/// duplicates ([`canonical_order`]). Returns rows written and duplicates dropped.
pub fn write_rows(path: &Path, rows: &[FeatureRow]) -> anyhow::Result<(usize, usize)> {
    let started = std::time::Instant::now();
    let order = canonical_order(rows)?;
    let ordered = started.elapsed();
    let mut df = to_frame(rows, &order)?;
    let framed = started.elapsed();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Snappy)
        .finish(&mut df)
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::debug!(
        rows = order.len(), ?ordered, ?framed, total = ?started.elapsed(), path = %path.display(),
        "parquet written (elapsed since start: ordering, columns, total)"
    );
    Ok((order.len(), rows.len() - order.len()))
}

/// The rows at `order`, as columns.
fn to_frame(rows: &[FeatureRow], order: &[u32]) -> anyhow::Result<DataFrame> {
    let at = || order.iter().map(|&i| &rows[i as usize]);
    let mut cols: Vec<Column> = vec![
        Column::new(
            "product_id".into(),
            at().map(|r| r.product_id.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "event_time_ns".into(),
            at().map(|r| r.event_time_ns).collect::<Vec<_>>(),
        ),
        Column::new("tie".into(), at().map(|r| r.tie).collect::<Vec<_>>()),
        Column::new(
            "sequence".into(),
            at().map(|r| r.sequence).collect::<Vec<_>>(),
        ),
        Column::new(
            "trade_id".into(),
            at().map(|r| r.trade_id).collect::<Vec<_>>(),
        ),
        Column::new(
            "feed".into(),
            at().map(|r| r.feed.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "segment_start".into(),
            at().map(|r| r.segment_start).collect::<Vec<_>>(),
        ),
        Column::new("warm".into(), at().map(|r| r.warm).collect::<Vec<_>>()),
        Column::new("price".into(), at().map(|r| r.price).collect::<Vec<_>>()),
    ];
    let mut features: Vec<PrimitiveChunkedBuilder<Float64Type>> = FEATURE_NAMES
        .iter()
        .map(|name| PrimitiveChunkedBuilder::new((*name).into(), order.len()))
        .collect();
    for r in at() {
        for (b, v) in features.iter_mut().zip(r.values()) {
            b.append_option(v);
        }
    }
    cols.extend(features.into_iter().map(|b| b.finish().into_column()));
    DataFrame::new_infer_height(cols).context("building the feature frame")
}

/// Features added by feature schema 2 (the clock features).
const V2_FEATURES: [&str; 5] = [
    "clock_volatility_10s",
    "clock_volatility_1min",
    "clock_volatility_5min",
    "clock_volatility_30min",
    "activity_ratio",
];

/// Every row of the feature parquet `files`, in file order; an error if
/// there are none.
pub fn read_files(files: &[std::path::PathBuf]) -> anyhow::Result<Vec<FeatureRow>> {
    let mut rows = Vec::new();
    for f in files {
        rows.extend(read_rows(f)?);
    }
    anyhow::ensure!(!rows.is_empty(), "no feature rows in {files:?}");
    Ok(rows)
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
        // Files of feature schema 1 have no clock features: read as absent.
        if V2_FEATURES.contains(&name) && df.column(name).is_err() {
            features.push(vec![None; n]);
            continue;
        }
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
            product_id: product[i].context("null product_id")?.into(),
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
            clock_volatility_10s: f(15),
            clock_volatility_1min: f(16),
            clock_volatility_5min: f(17),
            clock_volatility_30min: f(18),
            activity_ratio: f(19),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(product: &str, t: i64, tie: u32, price: f64) -> FeatureRow {
        FeatureRow {
            tie,
            segment_start: false,
            warm: false,
            price,
            ..FeatureRow::bare(product, t, price)
        }
    }

    fn keys(rows: &[FeatureRow]) -> Vec<(String, i64, u32)> {
        rows.iter()
            .map(|r| (r.product_id.to_string(), r.event_time_ns, r.tie))
            .collect()
    }

    #[test]
    fn interleaved_products_in_emission_order_are_bucketed() {
        let mut rows = vec![
            row("ETH-USD", 5, 0, 1.0),
            row("BTC-USD", 1, 0, 2.0),
            row("ETH-USD", 5, 1, 3.0),
            row("BTC-USD", 9, 0, 4.0),
        ];
        assert_eq!(canonicalize(&mut rows).unwrap(), 0);
        assert_eq!(
            keys(&rows),
            vec![
                ("BTC-USD".into(), 1, 0),
                ("BTC-USD".into(), 9, 0),
                ("ETH-USD".into(), 5, 0),
                ("ETH-USD".into(), 5, 1)
            ]
        );
    }

    #[test]
    fn merged_output_is_sorted_and_exact_copies_dropped() {
        let mut rows = vec![
            row("BTC-USD", 9, 0, 4.0),
            row("BTC-USD", 1, 0, 2.0),
            row("BTC-USD", 9, 0, 4.0),
            row("ADA-USD", 3, 0, 1.0),
        ];
        assert_eq!(canonicalize(&mut rows).unwrap(), 1);
        assert_eq!(
            keys(&rows),
            vec![
                ("ADA-USD".into(), 3, 0),
                ("BTC-USD".into(), 1, 0),
                ("BTC-USD".into(), 9, 0)
            ]
        );
    }

    #[test]
    fn one_key_with_two_contents_is_an_error() {
        let rows = vec![row("BTC-USD", 9, 0, 4.0), row("BTC-USD", 9, 0, 5.0)];
        let err = canonical_order(&rows).unwrap_err().to_string();
        assert!(err.contains("not deterministic"), "{err}");
    }
}
