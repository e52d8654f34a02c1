-- Version 3: the reports read only this index (every column they aggregate, in start
-- order), never the wide rows: a month of a million calls is one narrow range scan.
CREATE INDEX calls_for_reports ON calls (
    started_ms, ended_ms, disposition, queued_ms, answered_ms, wait_ms, wrapup_ms,
    within_rings, hold_ms, mute_ms, queue, agent, media_source, region
);

-- The agents' report reads offers alone: each offer carries how its call ended.
ALTER TABLE offers ADD COLUMN call_disposition TEXT;
ALTER TABLE offers ADD COLUMN call_wait_ms INTEGER;
UPDATE offers SET
    call_disposition = (SELECT c.disposition FROM calls c WHERE c.call_id = offers.call_id),
    call_wait_ms = (SELECT c.wait_ms FROM calls c WHERE c.call_id = offers.call_id);
CREATE INDEX offers_for_reports ON offers (
    offered_ms, agent, outcome, within_rings, call_id, call_disposition, call_wait_ms
);
-- Occupancy walks each agent's states in order.
CREATE INDEX agent_states_in_order ON agent_states (agent, at_ms, run, seq, state);
