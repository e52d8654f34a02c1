//! What must hold between the engine's tables after every input, for the operation-sequence
//! tests and the fuzzer: every leg belongs to a live call, every index points at something
//! that exists and points back, every media port has one owner.

use super::{Engine, PortUse};

impl Engine {
    /// The media ports calls and legs hold now, in order (for tests aiming packets).
    pub fn live_ports(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self.ports.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Checks the engine's tables against each other; the first inconsistency found.
    pub fn check_invariants(&self) -> Result<(), String> {
        for (id, leg) in &self.legs {
            if !self.calls.contains_key(&leg.call) {
                return Err(format!("leg {id:?} belongs to {} which is gone", leg.call));
            }
            if let Some(port) = leg.port {
                if self.ports.get(&port) != Some(&PortUse::Leg(*id)) {
                    return Err(format!("leg {id:?}'s port {port} is not indexed to it"));
                }
            }
        }
        for (tx, leg) in &self.leg_by_tx {
            if !self.legs.contains_key(leg) {
                return Err(format!(
                    "transaction {tx:?} points at leg {leg:?} which is gone"
                ));
            }
        }
        for (dialog, leg) in &self.leg_by_dialog {
            if self.legs.get(leg).and_then(|l| l.dialog.as_ref()) != Some(dialog) {
                return Err(format!("dialog index of leg {leg:?} is stale"));
            }
        }
        for (call, leg) in &self.bridged {
            match self.legs.get(leg) {
                Some(l) if l.call == *call && self.calls.contains_key(call) => {}
                _ => {
                    return Err(format!(
                        "{call} is bridged to leg {leg:?} which is not its own"
                    ))
                }
            }
        }
        for (tx, call) in &self.by_tx {
            if self.calls.get(call).map(|c| c.invite_tx) != Some(*tx) {
                return Err(format!("transaction {tx:?} points at {call} wrongly"));
            }
        }
        for (dialog, call) in &self.by_dialog {
            if self.calls.get(call).and_then(|c| c.dialog.as_ref()) != Some(dialog) {
                return Err(format!("dialog index of {call} is stale"));
            }
        }
        for (port, owner) in &self.ports {
            let owned = match owner {
                PortUse::Call(c) => self.calls.get(c).and_then(|c| c.local_port) == Some(*port),
                PortUse::Leg(l) => self.legs.get(l).and_then(|l| l.port) == Some(*port),
            };
            if !owned {
                return Err(format!(
                    "port {port} is indexed to {owner:?}, which does not hold it"
                ));
            }
        }
        for (id, call) in &self.calls {
            if let Some(port) = call.local_port {
                if self.ports.get(&port) != Some(&PortUse::Call(*id)) {
                    return Err(format!("{id}'s port {port} is not indexed to it"));
                }
            }
        }
        Ok(())
    }
}
