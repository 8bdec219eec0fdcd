//! The NDJSON journal: every received frame, byte for byte, with its
//! receive time, in files rotated by size and age.
//!
//! A line is `{"ts":<receive time, unix seconds with 9 decimals>,"conn":<connection id>,"raw":<frame>}`.
//! A frame that is JSON is embedded as it came (its exact bytes); any other
//! text is embedded as a JSON string, so it too survives exactly. That is
//! the recorder shape `volspike replay` already reads (`ts` + `raw`), so a
//! journal replays with the same decoder as the live path: the same ticks,
//! with the receive time where the frame has none of its own.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

/// Where and when to rotate.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// Directory of the journal files (created if missing).
    pub dir: PathBuf,
    /// Start a new file once the current one holds this many bytes.
    pub max_bytes: u64,
    /// Start a new file once the current one is this old.
    pub max_age: Duration,
}

struct OpenFile {
    writer: BufWriter<File>,
    bytes: u64,
    opened: Instant,
}

/// An append-only journal. Call [`Journal::close`] (or at least
/// [`Journal::sync`]) before exiting: data still buffered is written and
/// fsynced there.
pub struct Journal {
    cfg: JournalConfig,
    current: Option<OpenFile>,
    files: Vec<PathBuf>,
    frames: u64,
    line: Vec<u8>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.cfg.dir)
            .field("files", &self.files.len())
            .field("frames", &self.frames)
            .finish()
    }
}

impl Journal {
    /// A journal writing into `cfg.dir`; the first file opens with the first frame.
    pub fn open(cfg: JournalConfig) -> io::Result<Journal> {
        std::fs::create_dir_all(&cfg.dir)?;
        Ok(Journal {
            cfg,
            current: None,
            files: Vec::new(),
            frames: 0,
            line: Vec::with_capacity(4096),
        })
    }

    /// Files written so far, oldest first.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Frames appended so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Appends one frame received at `receive_time_ns` on connection `conn`.
    pub fn append(&mut self, receive_time_ns: i64, conn: u64, frame: &str) -> io::Result<()> {
        self.line.clear();
        // `ts` is seconds with exactly nine decimals: exact, unlike an f64.
        write!(
            self.line,
            "{{\"ts\":{}.{:09},\"conn\":{conn},\"raw\":",
            receive_time_ns.div_euclid(1_000_000_000),
            receive_time_ns.rem_euclid(1_000_000_000)
        )?;
        // A frame is embedded as is only when it is one JSON value without
        // line breaks (NDJSON); anything else becomes a JSON string.
        let verbatim = !frame.contains('\n')
            && !frame.contains('\r')
            && serde_json::from_str::<&RawValue>(frame).is_ok();
        if verbatim {
            self.line.extend_from_slice(frame.as_bytes());
        } else {
            serde_json::to_writer(&mut self.line, frame)?;
        }
        self.line.extend_from_slice(b"}\n");

        let rotate = self.current.as_ref().is_some_and(|f| {
            f.bytes >= self.cfg.max_bytes || f.opened.elapsed() >= self.cfg.max_age
        });
        if rotate {
            self.finish_current()?;
        }
        if self.current.is_none() {
            let path = self.cfg.dir.join(format!(
                "journal-{:019}-{:06}.ndjson",
                receive_time_ns.max(0),
                self.files.len()
            ));
            let file = OpenOptions::new()
                .create_new(true)
                .write(true)
                .open(&path)?;
            self.files.push(path);
            self.current = Some(OpenFile {
                writer: BufWriter::with_capacity(1 << 16, file),
                bytes: 0,
                opened: Instant::now(),
            });
        }
        let f = self.current.as_mut().expect("opened above");
        f.writer.write_all(&self.line)?;
        f.bytes += self.line.len() as u64;
        self.frames += 1;
        Ok(())
    }

    /// Writes buffered lines and fsyncs the current file.
    pub fn sync(&mut self) -> io::Result<()> {
        if let Some(f) = self.current.as_mut() {
            f.writer.flush()?;
            f.writer.get_ref().sync_data()?;
        }
        Ok(())
    }

    fn finish_current(&mut self) -> io::Result<()> {
        if let Some(mut f) = self.current.take() {
            f.writer.flush()?;
            f.writer.get_ref().sync_all()?;
        }
        Ok(())
    }

    /// Flushes, fsyncs and closes; returns every file written.
    pub fn close(mut self) -> io::Result<Vec<PathBuf>> {
        self.finish_current()?;
        if let Some(dir) = self.files.first().and_then(|p| p.parent()) {
            // The new directory entries must survive a crash too.
            File::open(dir)?.sync_all()?;
        }
        Ok(std::mem::take(&mut self.files))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use volspike_core::{LineKind, decode_line};

    const TICKER: &str = r#"{"channel":"ticker","timestamp":"2026-04-04T21:13:43.291084825Z","sequence_num":7,"events":[{"type":"update","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"67223.5","best_bid":"67223.49","best_ask":"67223.5"}]}]}"#;

    fn journal(dir: &Path, max_bytes: u64) -> Journal {
        Journal::open(JournalConfig {
            dir: dir.to_owned(),
            max_bytes,
            max_age: Duration::from_secs(3600),
        })
        .unwrap()
    }

    #[test]
    fn frames_survive_byte_for_byte_and_decode_like_the_live_frame() {
        let tmp = tempfile::tempdir().unwrap();
        let mut j = journal(tmp.path(), 1 << 20);
        let frames = [
            TICKER,
            "{\"truncated\": ",
            "not json at all \"quoted\" \\ and\nnewline",
        ];
        for (i, f) in frames.iter().enumerate() {
            j.append(1_775_337_223_000_000_001 + i as i64, 3, f)
                .unwrap();
        }
        let files = j.close().unwrap();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(&files[0]).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].contains(TICKER),
            "JSON frames are embedded verbatim"
        );
        for (line, frame) in lines.iter().zip(frames) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let raw = &v["raw"];
            let back = match raw.as_str() {
                Some(s) => s.to_owned(),
                None => serde_json::to_string(raw).unwrap(),
            };
            if raw.is_string() {
                assert_eq!(back, frame, "non-JSON frames come back exactly");
            }
        }
        // The journal line decodes to the frame's tick, with the receive time.
        let (mut live, mut replayed) = (Vec::new(), Vec::new());
        decode_line(TICKER.as_bytes(), &mut live).unwrap();
        assert_eq!(
            decode_line(lines[0].as_bytes(), &mut replayed).unwrap(),
            LineKind::Ticker(1)
        );
        assert_eq!(replayed[0].receive_time_ns, Some(1_775_337_223_000_000_001));
        assert_eq!(
            replayed[0].event_time_ns, live[0].event_time_ns,
            "exchange time wins"
        );
        assert_eq!(replayed[0].price, live[0].price);
        assert_eq!(replayed[0].sequence, live[0].sequence);
        assert!(decode_line(lines[1].as_bytes(), &mut replayed).is_err());
    }

    #[test]
    fn rotates_by_size_and_keeps_every_frame() {
        let tmp = tempfile::tempdir().unwrap();
        let mut j = journal(tmp.path(), 1_000);
        for i in 0..100 {
            j.append(1_000_000_000 * i, 1, TICKER).unwrap();
        }
        assert_eq!(j.frames(), 100);
        let files = j.close().unwrap();
        assert!(files.len() >= 20, "{} files", files.len());
        let lines: usize = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap().lines().count())
            .sum();
        assert_eq!(lines, 100);
        let mut names = files.clone();
        names.sort();
        assert_eq!(names, files, "names sort in write order");
    }

    #[test]
    fn rotates_by_age() {
        let tmp = tempfile::tempdir().unwrap();
        let mut j = Journal::open(JournalConfig {
            dir: tmp.path().to_owned(),
            max_bytes: u64::MAX,
            max_age: Duration::ZERO,
        })
        .unwrap();
        for i in 0..3 {
            j.append(i, 1, TICKER).unwrap();
        }
        assert_eq!(j.close().unwrap().len(), 3);
    }
}
