-- Version 7: how a keep-my-place callback is going. `status` is pending (waiting in a
-- queue or for its next try), reached (the patient answered a callback) or worklist (every
-- try spent); `attempts` counts the patient's phone dialled; `next_ms` is when the next
-- try is due, `reached_ms` when the patient answered, `updated_ms` the last change.
ALTER TABLE callbacks ADD COLUMN next_ms INTEGER;
ALTER TABLE callbacks ADD COLUMN reached_ms INTEGER;
ALTER TABLE callbacks ADD COLUMN updated_ms INTEGER;
