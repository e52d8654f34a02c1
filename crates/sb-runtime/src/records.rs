//! Call records on the engine's thread: the engine's events go through the recorder, and
//! its operations to the store's journal and writer. Nothing here waits on the database.

use sb_engine::EngineEvent;
use sb_records::Recorder;
use sb_store::Store;

pub struct Records {
    recorder: Recorder,
    store: Store,
}

impl Records {
    pub fn new(recorder: Recorder, store: Store) -> Records {
        Records { recorder, store }
    }

    pub fn on_event(&mut self, at_ms: i64, ev: &EngineEvent) {
        self.recorder.handle(at_ms, ev);
        while let Some(op) = self.recorder.poll_op() {
            self.store.record(op);
        }
    }

    /// The store's queue now and what it spilled, for the metrics.
    pub fn figures(&self) -> sb_api::control::StoreFigures {
        sb_api::control::StoreFigures {
            queue_depth: self.store.queue_depth() as u64,
            spilled: self.store.spilled(),
            committed: self
                .store
                .counters()
                .committed
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Before the turn's SIP goes out: the journal has what the peers will see completed.
    pub fn end_turn(&mut self) {
        self.store.end_turn();
    }

    /// Writes calls still up as interrupted and waits for the writer to commit everything.
    pub fn close(mut self, at_ms: i64) {
        self.recorder.close_all(at_ms);
        while let Some(op) = self.recorder.poll_op() {
            self.store.record(op);
        }
        let spilled = self.store.spilled();
        match self.store.close() {
            Ok(()) => tracing::info!(spilled, "call records flushed"),
            Err(e) => {
                tracing::error!(error = %e, "call records not flushed; the journal keeps them for the next start")
            }
        }
    }
}
