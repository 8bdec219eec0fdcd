//! The NDJSON journal: every received frame, byte for byte, with its
//! receive time, in files rotated by size and age.
//!
//! A line is `{"ts":<receive time, unix seconds with 9 decimals>,"conn":<connection id>,"frame":<frame number>,"raw":<frame>}`.
//! Frame numbers count up across files and restarts (a reopened journal
//! continues after its last line); `ticks.raw` records carry the number of
//! their frame, which is how a restart finds what Kafka is missing.
//! A frame that is JSON is embedded as it came (its exact bytes); any other
//! text is embedded as a JSON string, so it too survives exactly. That is
//! the recorder shape `volspike replay` already reads (`ts` + `raw`), so a
//! journal replays with the same decoder as the live path: the same ticks,
//! with the receive time where the frame has none of its own.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
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

/// What an existing journal directory ended with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resume {
    /// Number of the next frame.
    pub next_frame: u64,
    /// Highest connection id seen.
    pub last_conn: u64,
    /// Bytes of a torn last line cut off (a crash mid-write).
    pub truncated_bytes: u64,
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
    next_frame: u64,
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
    /// A journal writing into `cfg.dir`, continuing the numbering of what
    /// is already there (see [`Journal::resume`]); the first new file opens
    /// with the first frame.
    pub fn open(cfg: JournalConfig) -> io::Result<(Journal, Resume)> {
        std::fs::create_dir_all(&cfg.dir)?;
        let resume = resume(&cfg.dir)?;
        Ok((
            Journal {
                cfg,
                current: None,
                files: Vec::new(),
                frames: 0,
                next_frame: resume.next_frame,
                line: Vec::with_capacity(4096),
            },
            resume,
        ))
    }

    /// Number the next frame will get.
    pub fn next_frame(&self) -> u64 {
        self.next_frame
    }

    /// Files written so far, oldest first.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Frames appended so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Appends one frame received at `receive_time_ns` on connection
    /// `conn`; returns its frame number. The line reaches the file at the
    /// next [`Journal::flush`] (or when the buffer fills).
    pub fn append(&mut self, receive_time_ns: i64, conn: u64, frame: &str) -> io::Result<u64> {
        let number = self.next_frame;
        self.line.clear();
        // `ts` is seconds with exactly nine decimals: exact, unlike an f64.
        write!(
            self.line,
            "{{\"ts\":{}.{:09},\"conn\":{conn},\"frame\":{number},\"raw\":",
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
            // Named by first frame number (so names sort in order and a
            // frame's file is found by name) and UTC time (for people).
            let path = self.cfg.dir.join(format!(
                "journal-{number:015}-{}.ndjson",
                compact_utc(receive_time_ns)
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
        self.next_frame += 1;
        Ok(number)
    }

    /// Hands buffered lines to the operating system: they survive the
    /// process being killed (not a power cut; see [`Journal::sync`]).
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(f) = self.current.as_mut() {
            f.writer.flush()?;
        }
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

/// `20261123T004512Z` for a time in ns since the epoch.
fn compact_utc(ns: i64) -> String {
    let iso = volspike_core::time::format_timestamp(ns);
    // 2026-11-23T00:45:12.123456789Z -> 20261123T004512Z
    let digits: String = iso
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    format!("{digits}Z")
}

/// Journal files in `dir`, in frame order.
pub fn journal_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("journal-") && n.ends_with(".ndjson"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The first frame number of a journal file, from its name.
pub fn first_frame_of(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("journal-")?.get(..15)?.parse().ok()
}

/// One frame read back from the journal.
#[derive(Debug)]
pub struct JournalFrame<'a> {
    /// Frame number.
    pub frame: u64,
    /// Connection id.
    pub conn: u64,
    /// Receive time, ns since the epoch.
    pub receive_time_ns: i64,
    /// The frame as received.
    pub text: std::borrow::Cow<'a, str>,
}

#[derive(serde::Deserialize)]
struct LineFields<'a> {
    #[serde(borrow)]
    ts: &'a RawValue,
    conn: u64,
    frame: u64,
    #[serde(borrow)]
    raw: &'a RawValue,
}

/// Calls `f` with every frame numbered `from..=to` in the journal in `dir`,
/// in order. Reads only the files that can hold them.
pub fn read_frames(
    dir: &Path,
    from: u64,
    to: u64,
    mut f: impl FnMut(JournalFrame<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let files = journal_files(dir)?;
    for (i, path) in files.iter().enumerate() {
        let next_first = files.get(i + 1).and_then(|p| first_frame_of(p));
        if next_first.is_some_and(|n| n <= from) {
            continue;
        }
        if first_frame_of(path).is_some_and(|n| n > to) {
            break;
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            let frame =
                parse_line(line).with_context(|| format!("{}:{}", path.display(), n + 1))?;
            if frame.frame < from {
                continue;
            }
            if frame.frame > to {
                return Ok(());
            }
            f(frame)?;
        }
    }
    Ok(())
}

/// One journal line (`{"ts": ..., "conn": ..., "frame": ..., "raw": ...}`)
/// read back, or why it is not one.
pub fn parse_line(line: &str) -> anyhow::Result<JournalFrame<'_>> {
    let l: LineFields<'_> =
        serde_json::from_str(line).map_err(|e| anyhow::anyhow!("not a journal line: {e}"))?;
    let receive_time_ns = volspike_core::time::parse_unix_seconds(l.ts.get())
        .map_err(|e| anyhow::anyhow!("ts: {e}"))?;
    let raw = l.raw.get();
    let text = if raw.starts_with('"') {
        serde_json::from_str::<String>(raw)
            .map_err(|e| anyhow::anyhow!("raw: {e}"))?
            .into()
    } else {
        raw.into()
    };
    Ok(JournalFrame {
        frame: l.frame,
        conn: l.conn,
        receive_time_ns,
        text,
    })
}

/// The fields of a journal line a restart needs.
#[derive(serde::Deserialize)]
struct LineHead {
    conn: u64,
    frame: u64,
}

/// Finds where the journal in `dir` left off; cuts off a torn last line.
fn resume(dir: &Path) -> io::Result<Resume> {
    let mut out = Resume::default();
    let files = journal_files(dir)?;
    // Newest file first: it may be empty (killed before its first flush).
    for path in files.iter().rev() {
        let mut bytes = std::fs::read(path)?;
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            out.truncated_bytes += (bytes.len() - keep) as u64;
            tracing::warn!(
                file = %path.display(),
                bytes = bytes.len() - keep,
                "journal ends with a torn line (crash mid-write); cutting it off"
            );
            OpenOptions::new()
                .write(true)
                .open(path)?
                .set_len(keep as u64)?;
            bytes.truncate(keep);
        }
        let last = bytes[..bytes.len().saturating_sub(1)]
            .rsplit(|&b| b == b'\n')
            .next()
            .filter(|l| !l.is_empty());
        if let Some(line) = last {
            let head: LineHead = serde_json::from_slice(line).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("last line of {}: {e}", path.display()),
                )
            })?;
            out.next_frame = head.frame + 1;
            out.last_conn = head.conn;
            return Ok(out);
        }
        if let Some(first) = first_frame_of(path) {
            out.next_frame = out.next_frame.max(first);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use volspike_core::{LineKind, decode_line};

    const TICKER: &str = r#"{"channel":"ticker","timestamp":"2026-04-04T21:13:43.291084825Z","sequence_num":7,"events":[{"type":"update","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"67223.5","best_bid":"67223.49","best_ask":"67223.5"}]}]}"#;

    fn journal(dir: &Path, max_bytes: u64) -> Journal {
        Journal::open(JournalConfig {
            dir: dir.to_owned(),
            max_bytes,
            max_age: Duration::from_secs(3600),
        })
        .unwrap()
        .0
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
        .unwrap()
        .0;
        for i in 0..3 {
            j.append(i, 1, TICKER).unwrap();
        }
        assert_eq!(j.close().unwrap().len(), 3);
    }
}

#[cfg(test)]
mod resume_tests {
    use super::*;

    #[test]
    fn a_reopened_journal_continues_numbering_and_cuts_a_torn_line() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = JournalConfig {
            dir: tmp.path().to_owned(),
            max_bytes: 1 << 20,
            max_age: Duration::from_secs(3600),
        };
        let (mut j, r) = Journal::open(cfg.clone()).unwrap();
        assert_eq!(r, Resume::default());
        for i in 0..5 {
            assert_eq!(j.append(i, 2, "{}").unwrap(), i as u64);
        }
        let files = j.close().unwrap();
        // A crash in the middle of a line.
        let mut f = OpenOptions::new().append(true).open(&files[0]).unwrap();
        f.write_all(b"{\"ts\":1.000000000,\"conn\":2,\"fra")
            .unwrap();
        drop(f);
        let (mut j, r) = Journal::open(cfg.clone()).unwrap();
        assert_eq!(r.next_frame, 5);
        assert_eq!(r.last_conn, 2);
        assert!(r.truncated_bytes > 0);
        assert_eq!(j.append(9, 3, "{}").unwrap(), 5);
        let files = j.close().unwrap();
        assert_eq!(first_frame_of(&files[0]), Some(5));
        let all = journal_files(tmp.path()).unwrap();
        assert_eq!(all.len(), 2);
        let text: String = all
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert_eq!(text.lines().count(), 6, "the torn line is gone");
        let frames: Vec<u64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["frame"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(frames, vec![0, 1, 2, 3, 4, 5]);
    }
}
