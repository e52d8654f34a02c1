//! The engine's side of the store ([`Store`]) and the writer thread behind it. The engine
//! journals each operation and hands it over a bounded channel without ever waiting; the
//! writer, on its own thread with the only connection, commits in batches. When the writer
//! falls behind and the channel is full, operations live in the journal alone and are
//! replayed from it once their segment closes (or at the next start).

use crate::db::{self, Access, Statements};
use crate::journal::{self, Journal};
use crate::model::Op;
use crate::rollup::Thresholds;
use crate::StoreError;
use sqlx::{Connection, SqliteConnection};
use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Most operations committed in one transaction.
const BATCH: usize = 2048;

enum Msg {
    Op {
        segment: u64,
        op: Box<Op>,
    },
    /// Every operation of `segment` that went through the channel is ahead of this.
    SegmentClosed {
        segment: u64,
        file: PathBuf,
        spilled: bool,
    },
}

/// Counters shared with the writer, for logs and benchmarks.
#[derive(Debug, Default)]
pub struct Counters {
    pub committed: AtomicU64,
    pub batches: AtomicU64,
    pub replayed: AtomicU64,
    pub failed_batches: AtomicU64,
}

/// What the start-up found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Operations replayed from journals of earlier runs.
    pub replayed: usize,
    /// Journal lines that did not parse (a torn write) and were skipped.
    pub torn: usize,
    /// Calls found open and closed as `interrupted`.
    pub interrupted: u64,
}

pub struct Store {
    tx: mpsc::Sender<Msg>,
    journal: Journal,
    markers: VecDeque<Msg>,
    spilled_now: bool,
    spilled_total: u64,
    counters: Arc<Counters>,
    writer: Option<std::thread::JoinHandle<()>>,
    recovery: Recovery,
}

pub struct StoreSettings {
    pub path: PathBuf,
    pub journal: PathBuf,
    pub capacity: usize,
    /// Names this run's journal segments; sortable by start time.
    pub run: String,
    /// How ended calls are classified in the interval figures.
    pub thresholds: Thresholds,
}

impl Store {
    /// Opens (creating and migrating) the database, replays what earlier runs left in the
    /// journal, closes their interrupted calls, and starts the writer thread.
    pub fn start(s: StoreSettings) -> Result<Store, StoreError> {
        let journal = Journal::new(&s.journal, &s.run)?;
        let (tx, rx) = mpsc::channel(s.capacity.max(1));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let counters = Arc::new(Counters::default());
        let c2 = counters.clone();
        let (path, dir, thresholds) = (s.path.clone(), s.journal.clone(), s.thresholds);
        let writer = std::thread::Builder::new()
            .name("sb-store".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(source) => {
                        let _ = ready_tx.send(Err(StoreError::Io { path, source }));
                        return;
                    }
                };
                rt.block_on(async move {
                    let st = Statements::new(thresholds);
                    let mut conn = match prepare(&path, &dir, &st).await {
                        Ok((conn, rec)) => {
                            let _ = ready_tx.send(Ok(rec));
                            conn
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    run_writer(&mut conn, rx, &c2, &st).await;
                    let _ = conn.close().await;
                })
            })
            .map_err(|source| StoreError::Io {
                path: s.path.clone(),
                source,
            })?;
        let recovery = match ready_rx.recv() {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let _ = writer.join();
                return Err(e);
            }
            Err(_) => {
                let _ = writer.join();
                return Err(StoreError::WriterGone);
            }
        };
        Ok(Store {
            tx,
            journal,
            markers: VecDeque::new(),
            spilled_now: false,
            spilled_total: 0,
            counters,
            writer: Some(writer),
            recovery,
        })
    }

    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Messages waiting for the writer now.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Operations that found the channel full and wait in the journal.
    pub fn spilled(&self) -> u64 {
        self.spilled_total
    }

    /// Journals `op` and hands it to the writer, never waiting.
    pub fn record(&mut self, op: Op) {
        self.journal.push(&op);
        self.send_markers();
        let segment = self.journal.segment();
        if !self.markers.is_empty() {
            self.spill();
            return;
        }
        if self
            .tx
            .try_send(Msg::Op {
                segment,
                op: Box::new(op),
            })
            .is_err()
        {
            self.spill();
        }
    }

    /// Hands over the segment-closed markers waiting for room, in order.
    fn send_markers(&mut self) {
        while let Some(m) = self.markers.pop_front() {
            if let Err(mpsc::error::TrySendError::Full(m)) = self.tx.try_send(m) {
                self.markers.push_front(m);
                break;
            }
        }
    }

    fn spill(&mut self) {
        self.spilled_now = true;
        self.spilled_total += 1;
    }

    /// Writes this turn's operations to the journal. The runtime calls it after taking the
    /// engine's events and before sending the engine's SIP, so nothing a peer saw complete
    /// is missing from the journal.
    pub fn end_turn(&mut self) {
        match self.journal.write_turn() {
            Ok(true) => self.rotate(),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "call record journal write failed"),
        }
    }

    fn rotate(&mut self) {
        if let Some(segment) = self.journal.rotate() {
            let spilled = std::mem::take(&mut self.spilled_now);
            let file = self.journal.path_of(segment);
            self.markers.push_back(Msg::SegmentClosed {
                segment,
                file,
                spilled,
            });
            self.send_markers();
        }
    }

    /// Flushes the journal, lets the writer commit everything, and waits for it.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.end_turn();
        self.rotate();
        // The writer drains the channel while these wait their turn. (A plain retry: this
        // may run inside the engine's async runtime, where blocking sends are not allowed.)
        let markers = std::mem::take(&mut self.markers);
        for mut m in markers {
            loop {
                match self.tx.try_send(m) {
                    Ok(()) => break,
                    Err(mpsc::error::TrySendError::Full(back)) => {
                        m = back;
                        #[allow(
                            clippy::disallowed_methods,
                            reason = "closing the store at shutdown waits for the writer thread"
                        )]
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                }
            }
        }
        let Store { tx, writer, .. } = self;
        drop(tx);
        if let Some(w) = writer {
            w.join().map_err(|_| StoreError::WriterGone)?;
        }
        Ok(())
    }
}

/// Opens the database, replays leftover journal segments, closes interrupted calls.
async fn prepare(
    path: &Path,
    dir: &Path,
    st: &Statements,
) -> Result<(SqliteConnection, Recovery), StoreError> {
    let mut conn = db::open(path, Access::Write).await?;
    let mut rec = Recovery::default();
    for seg in journal::leftover_segments(dir) {
        let (ops, torn) = journal::read_segment(&seg)?;
        for chunk in ops.chunks(BATCH) {
            db::apply(&mut conn, st, chunk)
                .await
                .map_err(|e| StoreError::Sql {
                    path: path.to_path_buf(),
                    detail: format!("replaying {}: {e}", seg.display()),
                })?;
        }
        rec.replayed += ops.len();
        rec.torn += torn;
        std::fs::remove_file(&seg).map_err(|source| StoreError::Io { path: seg, source })?;
    }
    rec.interrupted = db::close_interrupted(&mut conn, st)
        .await
        .map_err(|e| StoreError::Sql {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    Ok((conn, rec))
}

async fn run_writer(
    conn: &mut SqliteConnection,
    mut rx: mpsc::Receiver<Msg>,
    counters: &Counters,
    st: &Statements,
) {
    let mut ops: Vec<Op> = Vec::with_capacity(BATCH);
    let mut segments_in_batch: HashSet<u64> = HashSet::new();
    let mut closed: Vec<(u64, PathBuf, bool)> = Vec::new();
    // Segments some of whose operations failed to commit: kept for the next start.
    let mut failed: HashSet<u64> = HashSet::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Msg::Op { segment, op } => {
                    segments_in_batch.insert(segment);
                    ops.push(*op);
                }
                Msg::SegmentClosed {
                    segment,
                    file,
                    spilled,
                } => closed.push((segment, file, spilled)),
            }
            if ops.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !ops.is_empty() {
            match db::apply(conn, st, &ops).await {
                Ok(()) => {
                    counters
                        .committed
                        .fetch_add(ops.len() as u64, Ordering::Relaxed);
                    counters.batches.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    counters.failed_batches.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, ops = ops.len(), "call records not committed; they stay in the journal for the next start");
                    failed.extend(segments_in_batch.iter().copied());
                }
            }
            ops.clear();
            segments_in_batch.clear();
        }
        for (segment, file, spilled) in closed.drain(..) {
            finish_segment(conn, st, &file, spilled, failed.remove(&segment), counters).await;
        }
    }
}

/// A closed segment: deleted when the database has all of it; replayed first when some of
/// it only ever reached the journal.
async fn finish_segment(
    conn: &mut SqliteConnection,
    st: &Statements,
    file: &Path,
    spilled: bool,
    failed: bool,
    counters: &Counters,
) {
    if spilled || failed {
        let replay = match journal::read_segment(file) {
            Ok((ops, _)) => {
                let mut ok = true;
                for chunk in ops.chunks(BATCH) {
                    if let Err(e) = db::apply(conn, st, chunk).await {
                        tracing::error!(error = %e, file = %file.display(), "journal replay failed; kept for the next start");
                        ok = false;
                        break;
                    }
                }
                if ok {
                    counters
                        .replayed
                        .fetch_add(ops.len() as u64, Ordering::Relaxed);
                }
                ok
            }
            Err(e) => {
                tracing::error!(error = %e, "journal segment unreadable; kept for the next start");
                false
            }
        };
        if !replay {
            return;
        }
    }
    if let Err(e) = std::fs::remove_file(file) {
        tracing::warn!(error = %e, file = %file.display(), "journal segment not removed");
    }
}
