-- Version 6: calls from and to the phone network. The trunk a patient's call came in on (or
-- the one that carried a call out), the hospital number (DID) it came to, whether the caller
-- withheld their number, why a call went out, and the carrier's last failure on the way
-- (status and Reason, a Q.850 cause).
ALTER TABLE calls ADD COLUMN trunk TEXT;
ALTER TABLE calls ADD COLUMN did TEXT;
ALTER TABLE calls ADD COLUMN withheld INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN purpose TEXT;
ALTER TABLE calls ADD COLUMN carrier_status INTEGER;
ALTER TABLE calls ADD COLUMN carrier_cause TEXT;
CREATE INDEX calls_trunk ON calls (trunk, started_ms);
