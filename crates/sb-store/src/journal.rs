//! The journal: every operation is appended here, one JSON line each, before the engine
//! answers the SIP that completes it; the database writer catches up behind. A process
//! that dies (kill -9, a crash) leaves its operations in the page cache and so in the file;
//! the next start replays them. Segments are small files, deleted once the database has
//! everything in them.

use crate::model::Op;
use crate::StoreError;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A segment is closed once it holds this many bytes.
pub const SEGMENT_BYTES: usize = 1 << 20;

pub struct Journal {
    dir: PathBuf,
    run: String,
    segment: u64,
    file: Option<File>,
    written: usize,
    buf: Vec<u8>,
}

pub fn segment_path(dir: &Path, run: &str, segment: u64) -> PathBuf {
    dir.join(format!("seg-{run}-{segment:06}.jsonl"))
}

impl Journal {
    pub fn new(dir: &Path, run: &str) -> Result<Journal, StoreError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            run: run.to_string(),
            segment: 0,
            file: None,
            written: 0,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    pub fn segment(&self) -> u64 {
        self.segment
    }

    /// Adds `op` to this turn's buffer.
    pub fn push(&mut self, op: &Op) {
        // Serialising plain data with string keys cannot fail.
        if serde_json::to_writer(&mut self.buf, op).is_ok() {
            self.buf.push(b'\n');
        }
    }

    /// Writes the turn's buffer with one system call. Returns whether the current segment
    /// is now full (the caller then closes it with [`Journal::rotate`]).
    pub fn write_turn(&mut self) -> Result<bool, StoreError> {
        if self.buf.is_empty() {
            return Ok(false);
        }
        let path = segment_path(&self.dir, &self.run, self.segment);
        if self.file.is_none() {
            use std::os::unix::fs::OpenOptionsExt;
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .map_err(|source| StoreError::Io {
                    path: path.clone(),
                    source,
                })?;
            self.file = Some(f);
        }
        if let Some(f) = self.file.as_mut() {
            f.write_all(&self.buf)
                .map_err(|source| StoreError::Io { path, source })?;
        }
        self.written += self.buf.len();
        self.buf.clear();
        Ok(self.written >= SEGMENT_BYTES)
    }

    /// Closes the current segment and starts the next; returns the closed one's number, or
    /// `None` when nothing was written to it.
    pub fn rotate(&mut self) -> Option<u64> {
        self.file.take()?;
        let closed = self.segment;
        self.segment += 1;
        self.written = 0;
        Some(closed)
    }

    pub fn path_of(&self, segment: u64) -> PathBuf {
        segment_path(&self.dir, &self.run, segment)
    }
}

/// The segments left in `dir` by earlier runs, oldest first.
pub fn leftover_segments(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".jsonl"))
        })
        .collect();
    v.sort();
    v
}

/// The operations of one segment. A torn last line (power lost mid-write) or any line that
/// does not parse is skipped and counted, never fatal: the rest still counts.
pub fn read_segment(path: &Path) -> Result<(Vec<Op>, usize), StoreError> {
    let bytes = std::fs::read(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut ops = Vec::new();
    let mut bad = 0;
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<Op>(line) {
            Ok(op) => ops.push(op),
            Err(_) => bad += 1,
        }
    }
    Ok((ops, bad))
}
