//! Reading recordings: globs, compression, and parallel decoding in order.
//!
//! One thread reads files in chunks that end at a line break, worker
//! threads decode chunks in parallel, and the caller receives decoded chunks
//! in input order. Decoding is the costly part of a replay (JSON parsing);
//! this is what lets it use every core while the feature engine, which must
//! see each product's ticks in order, runs on the caller's thread.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use volspike_core::{DecodeError, FieldMap, LineKind, Tick, decode_line_mapped};

/// Expands glob patterns (or plain paths) into files, sorted within each
/// pattern, without repeats. A pattern that matches nothing is an error.
pub fn expand_globs(patterns: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for pattern in patterns {
        let mut matched: Vec<PathBuf> = glob::glob(pattern)
            .with_context(|| format!("bad glob pattern `{pattern}`"))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        if matched.is_empty() {
            bail!("no file matches `{pattern}`");
        }
        matched.sort();
        for m in matched {
            if !files.contains(&m) {
                files.push(m);
            }
        }
    }
    Ok(files)
}

/// Orders files by the event time of their first tick (files without one
/// keep their place at the end), so that recordings given in any order are
/// replayed in time order: the engine skips a product's ticks that go back
/// in time, which is right for one stream but would drop whole files here.
/// Ties keep the given order. Only the first lines of each file are read.
pub fn order_by_first_tick(files: Vec<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    order_by_first_tick_mapped(files, &FieldMap::default())
}

/// [`order_by_first_tick`] of lines read with `fields` renamed.
pub fn order_by_first_tick_mapped(
    files: Vec<PathBuf>,
    fields: &FieldMap,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut keyed = Vec::with_capacity(files.len());
    for (i, path) in files.into_iter().enumerate() {
        let first = first_tick_time(&path, fields)?;
        keyed.push((first.unwrap_or(i64::MAX), i, path));
    }
    keyed.sort();
    Ok(keyed.into_iter().map(|(_, _, p)| p).collect())
}

fn first_tick_time(path: &Path, fields: &FieldMap) -> anyhow::Result<Option<i64>> {
    use std::io::BufRead;
    let reader = std::io::BufReader::new(open(path)?);
    let mut ticks = Vec::new();
    for line in reader.split(b'\n').take(10_000) {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if decode_line_mapped(&line, fields, &mut ticks).is_ok() && !ticks.is_empty() {
            return Ok(ticks.iter().map(|t| t.event_time_ns).min());
        }
    }
    Ok(None)
}

/// Opens a recording, decompressing `.gz` and `.zst` by extension.
pub fn open(path: &Path) -> anyhow::Result<Box<dyn Read + Send>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = BufReader::with_capacity(1 << 20, file);
    Ok(match path.extension().and_then(|e| e.to_str()) {
        Some("gz") => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Some("zst") => Box::new(
            zstd::Decoder::with_buffer(reader)
                .with_context(|| format!("opening {}", path.display()))?,
        ),
        _ => Box::new(reader),
    })
}

/// One line's fate.
#[derive(Debug)]
pub struct LineOutcome {
    /// Index of the file in the input list.
    pub file: usize,
    /// 1-based line number in that file.
    pub line_no: u64,
    /// Byte range of the line (without its line break) in the chunk.
    pub bytes: Range<usize>,
    /// What the line was; for tickers, the range of its ticks in the chunk's ticks.
    pub result: Result<(LineKind, Range<usize>), DecodeError>,
}

/// A decoded chunk of input.
#[derive(Debug)]
pub struct DecodedChunk {
    /// The raw bytes of the chunk (a slice of the mapped file, for plain files).
    pub bytes: Bytes,
    /// Every line of the chunk, in order.
    pub lines: Vec<LineOutcome>,
    /// The ticks of all its lines, in order.
    pub ticks: Vec<Tick>,
}

struct RawChunk {
    seq: u64,
    file: usize,
    first_line: u64,
    bytes: Bytes,
}

const CHUNK_BYTES: usize = 1 << 20;

/// Cuts `files` into chunks of whole lines, in order. Plain files are
/// memory-mapped and cut without copying; compressed ones are decompressed
/// into fresh buffers.
fn read_chunks(files: &[PathBuf], tx: std::sync::mpsc::SyncSender<anyhow::Result<RawChunk>>) {
    let mut seq = 0;
    for (file, path) in files.iter().enumerate() {
        let mut line = 1u64;
        let mut emit = |bytes: Bytes| {
            let lines = memchr::memchr_iter(b'\n', &bytes).count() as u64
                + u64::from(bytes.last() != Some(&b'\n'));
            let chunk = RawChunk {
                seq,
                file,
                first_line: line,
                bytes,
            };
            seq += 1;
            line += lines;
            tx.send(Ok(chunk)).is_ok()
        };
        let result = if is_compressed(path) {
            read_compressed(path, &mut emit)
        } else {
            read_mapped(path, &mut emit)
        };
        match result {
            Ok(true) => {}
            Ok(false) => return, // the receiver hung up
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

fn is_compressed(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("gz" | "zst")
    )
}

/// Passes whole-line slices of a mapped file to `emit`; false if it refused one.
#[allow(unsafe_code)]
fn read_mapped(path: &Path, emit: &mut impl FnMut(Bytes) -> bool) -> anyhow::Result<bool> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    // SAFETY: recordings are not modified while they are replayed; a file
    // truncated underneath the map would fault, as with any mmap reader.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("mapping {}", path.display()))?;
    let all = Bytes::from_owner(map);
    let mut start = 0;
    while start < all.len() {
        let mut end = (start + CHUNK_BYTES).min(all.len());
        if end < all.len() {
            end = match memchr::memchr(b'\n', &all[end..]) {
                Some(p) => end + p + 1,
                None => all.len(),
            };
        }
        if !emit(all.slice(start..end)) {
            return Ok(false);
        }
        start = end;
    }
    Ok(true)
}

/// Decompresses a file into whole-line chunks for `emit`; false if it refused one.
fn read_compressed(path: &Path, emit: &mut impl FnMut(Bytes) -> bool) -> anyhow::Result<bool> {
    let mut reader = open(path)?;
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let mut buf = std::mem::take(&mut carry);
        let start = buf.len();
        buf.resize(start + CHUNK_BYTES, 0);
        let n = read_full(&mut reader, &mut buf[start..])
            .with_context(|| format!("reading {}", path.display()))?;
        buf.truncate(start + n);
        let eof = n == 0;
        if !eof {
            // Keep the partial last line for the next chunk.
            match memchr::memrchr(b'\n', &buf) {
                Some(p) => carry = buf.split_off(p + 1),
                None => {
                    carry = buf;
                    continue;
                }
            }
        }
        if buf.is_empty() {
            return Ok(true);
        }
        if !emit(Bytes::from(buf)) {
            return Ok(false);
        }
        if eof {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Decodes every line of a chunk, with `fields` renamed.
pub fn decode_chunk(bytes: Bytes, file: usize, first_line: u64, fields: &FieldMap) -> DecodedChunk {
    let mut ticks = Vec::with_capacity(bytes.len() / 200);
    let mut lines = Vec::with_capacity(bytes.len() / 200);
    let mut start = 0;
    let mut line_no = first_line;
    while start < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |p| start + p);
        let before = ticks.len();
        let result = decode_line_mapped(&bytes[start..end], fields, &mut ticks)
            .map(|k| (k, before..ticks.len()));
        lines.push(LineOutcome {
            file,
            line_no,
            bytes: start..end,
            result,
        });
        line_no += 1;
        start = end + 1;
    }
    DecodedChunk {
        bytes,
        lines,
        ticks,
    }
}

/// Reads and decodes `files` on background threads, calling `sink` with each
/// decoded chunk in input order on this thread.
pub fn decode_files(
    files: &[PathBuf],
    sink: impl FnMut(DecodedChunk) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    decode_files_mapped(files, &FieldMap::default(), sink)
}

/// [`decode_files`] with the fields of `fields` renamed in every line
/// (`volspike replay --field`).
pub fn decode_files_mapped(
    files: &[PathBuf],
    fields: &FieldMap,
    mut sink: impl FnMut(DecodedChunk) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let workers = thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    let (raw_tx, raw_rx) = sync_channel::<anyhow::Result<RawChunk>>(workers * 2);
    let (out_tx, out_rx) = sync_channel::<anyhow::Result<(u64, DecodedChunk)>>(workers * 2);
    let raw_rx = Arc::new(Mutex::new(raw_rx));
    thread::scope(|s| {
        let files = files.to_vec();
        s.spawn(move || read_chunks(&files, raw_tx));
        for _ in 0..workers {
            let rx = Arc::clone(&raw_rx);
            let tx = out_tx.clone();
            s.spawn(move || {
                loop {
                    let next = rx.lock().expect("chunk queue lock").recv();
                    let Ok(item) = next else { return };
                    let out =
                        item.map(|c| (c.seq, decode_chunk(c.bytes, c.file, c.first_line, fields)));
                    if tx.send(out).is_err() {
                        return;
                    }
                }
            });
        }
        drop(out_tx);
        deliver_in_order(out_rx, &mut sink)
    })
}

/// The shared Coinbase recordings (`../shared/data/coinbase` beside the
/// checkout, seen from a crate's manifest directory), ordered by their
/// first tick; `None`, with a message, where they are absent, so tests that
/// need them skip on a clone without them.
pub fn shared_recordings(manifest_dir: &str) -> Option<Vec<PathBuf>> {
    let dir = Path::new(manifest_dir).join("../../../shared/data/coinbase");
    if !dir.is_dir() {
        eprintln!(
            "skipping: {} is absent (the shared Coinbase recordings)",
            dir.display()
        );
        return None;
    }
    let pattern = format!("{}/**/*.ndjson", dir.display());
    let files = expand_globs(&[pattern]).expect("the shared recordings are readable");
    Some(order_by_first_tick(files).expect("the shared recordings are readable"))
}

/// Reads recordings (any shape [`decode_files`] reads) into their ticks, in
/// order: what the exchange simulator serves when given recordings.
pub fn load_ticks(files: &[PathBuf]) -> anyhow::Result<Vec<Tick>> {
    let mut ticks = Vec::new();
    decode_files(files, |chunk| {
        ticks.extend(chunk.ticks);
        Ok(())
    })?;
    Ok(ticks)
}

fn deliver_in_order(
    rx: Receiver<anyhow::Result<(u64, DecodedChunk)>>,
    sink: &mut impl FnMut(DecodedChunk) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    for item in rx {
        let (seq, chunk) = item?;
        pending.insert(seq, chunk);
        while let Some(chunk) = pending.remove(&next) {
            sink(chunk)?;
            next += 1;
        }
    }
    if !pending.is_empty() {
        bail!("input ended with {} chunks out of order", pending.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn lines_split_across_chunks_and_compression_are_handled() {
        let dir = tempfile::tempdir().unwrap();
        let line = r#"{"product_id": "BTC-USD", "price": "67377.24", "best_bid": "67377.23", "best_ask": "67377.24", "volume_24_h": "2415.7", "timestamp": "2026-04-04T22:54:57.175677226Z"}"#;
        // Enough lines to span several 1 MiB chunks, the last without a newline.
        let n = 3 * CHUNK_BYTES / line.len() + 17;
        let mut text = vec![line; n].join("\n");
        text.push_str("\nnot json");
        let plain = dir.path().join("a.ndjson");
        std::fs::write(&plain, &text).unwrap();
        let gz = dir.path().join("b.ndjson.gz");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
        let zst = dir.path().join("c.ndjson.zst");
        std::fs::write(&zst, zstd::encode_all(text.as_bytes(), 1).unwrap()).unwrap();

        let files = expand_globs(&[format!("{}/*", dir.path().display())]).unwrap();
        assert_eq!(files.len(), 3);
        let (mut ticks, mut bad, mut last_line) = (0, Vec::new(), vec![0u64; 3]);
        decode_files(&files, |c| {
            ticks += c.ticks.len();
            for l in &c.lines {
                assert_eq!(
                    l.line_no,
                    last_line[l.file] + 1,
                    "line numbers are continuous"
                );
                last_line[l.file] = l.line_no;
                if l.result.is_err() {
                    bad.push((l.file, l.line_no));
                }
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(ticks, 3 * n);
        let last = n as u64 + 1;
        assert_eq!(bad, vec![(0, last), (1, last), (2, last)]);
    }

    #[test]
    fn a_glob_that_matches_nothing_is_an_error() {
        assert!(expand_globs(&["/nonexistent/*.ndjson".into()]).is_err());
    }
}
