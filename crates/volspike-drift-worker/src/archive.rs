//! The worker's own training data: `ticks.features` in hourly parquet files.
//!
//! Rows are kept in memory by hour of event time and written to
//! `features-YYYY-MM-DDTHH.parquet` under the archive directory once the
//! stream is [`GRACE`] past the hour's end (partitions interleave, so a
//! little lateness is normal). Rows later than that go into the hour's
//! file at the next settle: the file is read, merged and rewritten (in canonical order,
//! exact duplicates dropped, as every feature file), through a temporary
//! file and a rename so a crash never leaves half a file. Files whose hour
//! ended more than the configured days before the stream's latest time are
//! deleted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use volspike_core::FeatureRow;
use volspike_core::time::{format_timestamp, parse_timestamp};

const HOUR_NS: i64 = 3_600_000_000_000;

/// How long after an hour's end its rows stay in memory before the file is
/// written.
pub const GRACE: Duration = Duration::from_secs(120);

/// Hourly parquet files of feature rows.
#[derive(Debug)]
pub struct Archive {
    dir: PathBuf,
    keep_ns: i64,
    hours: BTreeMap<i64, Vec<FeatureRow>>,
    files_written: u64,
    rows_written: u64,
}

impl Archive {
    /// An archive in `dir` (created if missing) keeping `days` of files.
    pub fn open(dir: &Path, days: u32) -> anyhow::Result<Archive> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Archive {
            dir: dir.to_owned(),
            keep_ns: i64::from(days) * 24 * HOUR_NS,
            hours: BTreeMap::new(),
            files_written: 0,
            rows_written: 0,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Files written and rows in them since the archive was opened.
    pub fn written(&self) -> (u64, u64) {
        (self.files_written, self.rows_written)
    }

    /// Takes a row (held in memory until [`Archive::settle`]).
    pub fn push(&mut self, row: FeatureRow) {
        let hour = row.event_time_ns.div_euclid(HOUR_NS) * HOUR_NS;
        self.hours.entry(hour).or_default().push(row);
    }

    /// Writes the hours the stream (at `watermark_ns`) has left behind and
    /// deletes files older than the days kept. Called once per batch of
    /// input, so rows that come late (a partition behind the others) cost
    /// one merge of their hour's file per batch, not one per row.
    pub fn settle(&mut self, watermark_ns: i64) -> anyhow::Result<()> {
        let grace = i64::try_from(GRACE.as_nanos()).unwrap_or(i64::MAX);
        let done: Vec<i64> = self
            .hours
            .keys()
            .copied()
            .take_while(|&h| h + HOUR_NS + grace <= watermark_ns)
            .collect();
        if !done.is_empty() {
            for h in done {
                self.write_hour(h)?;
            }
            self.prune(watermark_ns)?;
        }
        Ok(())
    }

    /// Adds `rows` from elsewhere (a training set, an older archive) and
    /// writes their hours, merged with the files already there; returns
    /// the rows taken.
    pub fn import(&mut self, rows: impl IntoIterator<Item = FeatureRow>) -> anyhow::Result<u64> {
        let mut n = 0;
        for r in rows {
            self.push(r);
            n += 1;
        }
        self.flush()?;
        Ok(n)
    }

    /// Writes every hour held in memory (at shutdown).
    pub fn flush(&mut self) -> anyhow::Result<()> {
        let hours: Vec<i64> = self.hours.keys().copied().collect();
        for h in hours {
            self.write_hour(h)?;
        }
        Ok(())
    }

    /// Rows with event time in `[from_ns, to_ns]`, from the files and from
    /// memory, in canonical order without duplicates.
    pub fn read(&self, from_ns: i64, to_ns: i64) -> anyhow::Result<Vec<FeatureRow>> {
        let mut rows = Vec::new();
        for (hour, path) in self.files()? {
            if hour + HOUR_NS > from_ns && hour <= to_ns && !self.hours.contains_key(&hour) {
                rows.extend(volspike_replay::parquet::read_rows(&path)?);
            }
        }
        for (&hour, held) in &self.hours {
            if hour + HOUR_NS > from_ns && hour <= to_ns {
                let path = self.path(hour);
                if path.exists() {
                    rows.extend(volspike_replay::parquet::read_rows(&path)?);
                }
                rows.extend(held.iter().cloned());
            }
        }
        rows.retain(|r| (from_ns..=to_ns).contains(&r.event_time_ns));
        volspike_replay::parquet::canonicalize(&mut rows)?;
        Ok(rows)
    }

    /// The archive's files by hour start, ns.
    pub fn files(&self) -> anyhow::Result<Vec<(i64, PathBuf)>> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.dir)
            .with_context(|| format!("listing {}", self.dir.display()))?;
        for e in entries {
            let path = e?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if let Some(hour) = hour_of_name(name) {
                out.push((hour, path));
            }
        }
        out.sort();
        Ok(out)
    }

    fn path(&self, hour: i64) -> PathBuf {
        // `2026-12-02T14:00:00.000000000Z` -> `features-2026-12-02T14.parquet`
        self.dir.join(format!(
            "features-{}.parquet",
            &format_timestamp(hour)[..13]
        ))
    }

    fn write_hour(&mut self, hour: i64) -> anyhow::Result<()> {
        let Some(mut rows) = self.hours.remove(&hour) else {
            return Ok(());
        };
        let path = self.path(hour);
        if path.exists() {
            rows.extend(volspike_replay::parquet::read_rows(&path)?);
        }
        let tmp = path.with_extension("parquet.tmp");
        let (written, _) = volspike_replay::parquet::write_rows(&tmp, &rows)?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        self.files_written += 1;
        self.rows_written += written as u64;
        tracing::debug!(file = %path.display(), rows = written, "archived an hour of features");
        Ok(())
    }

    fn prune(&self, watermark_ns: i64) -> anyhow::Result<()> {
        for (hour, path) in self.files()? {
            if hour + HOUR_NS < watermark_ns.saturating_sub(self.keep_ns) {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
                tracing::info!(file = %path.display(), "removed an archive file past its days");
            }
        }
        Ok(())
    }
}

/// The hour start of an archive file name, ns.
fn hour_of_name(name: &str) -> Option<i64> {
    let stem = name.strip_prefix("features-")?.strip_suffix(".parquet")?;
    parse_timestamp(&format!("{stem}:00:00Z")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t_ns: i64, tie: u32) -> FeatureRow {
        FeatureRow {
            tie,
            log_return: Some(0.001),
            price_volatility_1min: Some(1e-4),
            ..FeatureRow::bare("BTC-USD", t_ns, 100.0)
        }
    }

    #[test]
    fn hours_are_written_after_the_grace_merged_when_late_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Archive::open(dir.path(), 1).unwrap();
        let t0 = 1_800_000_000 * 1_000_000_000 / HOUR_NS * HOUR_NS;
        let min = 60 * 1_000_000_000;
        for m in 0..62 {
            a.push(row(t0 + m * min, 0));
            a.settle(t0 + m * min).unwrap();
        }
        // 62 minutes in: the first hour is still within the grace.
        assert!(a.files().unwrap().is_empty());
        a.push(row(t0 + 63 * min, 0));
        a.settle(t0 + 63 * min).unwrap();
        let files = a.files().unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, t0);
        assert!(
            files[0]
                .1
                .ends_with(format!("features-{}.parquet", &format_timestamp(t0)[..13]))
        );
        // A late row of the first hour, and a re-delivered one, merge in.
        a.push(row(t0 + 30 * min, 1));
        a.push(row(t0 + 30 * min, 0));
        a.settle(t0 + 64 * min).unwrap();
        a.flush().unwrap();
        let first = volspike_replay::parquet::read_rows(&files[0].1).unwrap();
        assert_eq!(first.len(), 61);
        // Reads cover files and memory, in order.
        let all = a.read(t0, t0 + 2 * HOUR_NS).unwrap();
        assert_eq!(all.len(), 64);
        assert!(all.windows(2).all(|w| w[0].key() < w[1].key()));
        // Two days on, both hours are past the one day kept.
        let later = t0 + 50 * HOUR_NS;
        a.push(row(later, 0));
        a.settle(later + 2 * HOUR_NS).unwrap();
        let left: Vec<i64> = a.files().unwrap().into_iter().map(|f| f.0).collect();
        assert_eq!(left, [later]);
    }
}
