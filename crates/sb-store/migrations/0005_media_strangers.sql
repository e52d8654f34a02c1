-- Version 5: media packets refused from strangers (sources that are not the leg's peer: a
-- hijack attempt, or a NAT the learning rules would not follow), on the patient's leg and
-- summed over the agents' legs of the call.
ALTER TABLE calls ADD COLUMN caller_strangers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN agent_strangers INTEGER NOT NULL DEFAULT 0;
