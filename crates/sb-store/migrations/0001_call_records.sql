-- Switchboard's call records, version 1.

-- One row per call: inserted when the call starts, brought up to date at milestones
-- (queued, answered) and written whole when it ends. `ended_ms IS NULL` marks a call in
-- progress; at the next start such rows are closed with disposition 'interrupted'.
CREATE TABLE calls (
    call_id          TEXT PRIMARY KEY NOT NULL,
    direction        TEXT NOT NULL,
    caller           TEXT NOT NULL,
    dialled          TEXT NOT NULL,
    media_source     TEXT,
    region           TEXT,
    language         TEXT,
    ivr_path         TEXT NOT NULL DEFAULT '',
    queue            TEXT,
    agent            TEXT,
    started_ms       INTEGER NOT NULL,
    queued_ms        INTEGER,
    first_offer_ms   INTEGER,
    answered_ms      INTEGER,
    ended_ms         INTEGER,
    wait_ms          INTEGER,
    ring_ms          INTEGER,
    rings            INTEGER,
    within_rings     INTEGER,
    disposition      TEXT NOT NULL,
    hangup_by        TEXT,
    hold_ms          INTEGER NOT NULL DEFAULT 0,
    mute_ms          INTEGER NOT NULL DEFAULT 0,
    wrapup_ms        INTEGER NOT NULL DEFAULT 0,
    caller_loss      REAL,
    caller_jitter_ms REAL,
    agent_loss       REAL,
    agent_jitter_ms  REAL,
    tags             TEXT NOT NULL DEFAULT ''
);
CREATE INDEX calls_by_start ON calls (started_ms);
CREATE INDEX calls_open ON calls (ended_ms) WHERE ended_ms IS NULL;

-- What happened to each call, in order (Asterisk's queue_log, richer).
CREATE TABLE call_events (
    call_id TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    at_ms   INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    agent   TEXT,
    detail  TEXT,
    PRIMARY KEY (call_id, seq)
) WITHOUT ROWID;

-- Every time an agent's phone rang for a call, and how it ended.
CREATE TABLE offers (
    call_id      TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    agent        TEXT NOT NULL,
    offered_ms   INTEGER NOT NULL,
    rang_ms      INTEGER NOT NULL,
    outcome      TEXT NOT NULL,
    within_rings INTEGER NOT NULL,
    PRIMARY KEY (call_id, seq)
) WITHOUT ROWID;
CREATE INDEX offers_by_time ON offers (offered_ms);

CREATE TABLE transfers (
    call_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL,
    from_party TEXT NOT NULL,
    to_party   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
) WITHOUT ROWID;

-- Agents' state changes (available, offered, on_call, wrap_up, paused, unavailable), for
-- occupancy and shifts. `run` is the engine run that saw them, `seq` their order in it.
CREATE TABLE agent_states (
    run    TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    agent  TEXT NOT NULL,
    at_ms  INTEGER NOT NULL,
    state  TEXT NOT NULL,
    reason TEXT,
    PRIMARY KEY (run, seq)
) WITHOUT ROWID;
CREATE INDEX agent_states_by_agent ON agent_states (agent, at_ms);
