-- Version 2: the callback list. A patient who chose to be called back instead of waiting
-- gets a row here for the callback workflow to dial (status pending -> done / failed).
CREATE TABLE callbacks (
    call_id      TEXT PRIMARY KEY NOT NULL,
    requested_ms INTEGER NOT NULL,
    number       TEXT NOT NULL,
    queue        TEXT,
    status       TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX callbacks_pending ON callbacks (status, requested_ms);

-- Earlier records of callback requests join the list.
INSERT OR IGNORE INTO callbacks (call_id, requested_ms, number, queue)
    SELECT call_id, coalesce(ended_ms, started_ms), caller, queue FROM calls
    WHERE disposition = 'callback_requested';
