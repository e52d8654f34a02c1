//! The router's one index: from what the outside names (a SIP transaction, a dialog, a
//! media port) to the leg of the call it belongs to. Calls tell the router what to index
//! as their legs come and go ([`crate::call::Output`]); the operation-sequence tests check
//! after every step that it agrees with the calls.

use crate::call::leg::LegRef;
use crate::idmap::IdMap;
use sb_sip::dialog::DialogId;
use sb_sip::transaction::TxId;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) by_tx: IdMap<TxId, LegRef>,
    pub(crate) by_dialog: HashMap<DialogId, LegRef>,
    pub(crate) by_port: IdMap<u16, LegRef>,
}

impl Index {
    /// Forgets what a gone leg held.
    pub(crate) fn forget(
        &mut self,
        tx: Option<TxId>,
        dialog: Option<&DialogId>,
        port: Option<u16>,
    ) {
        if let Some(tx) = tx {
            self.by_tx.remove(&tx);
        }
        if let Some(d) = dialog {
            self.by_dialog.remove(d);
        }
        if let Some(p) = port {
            self.by_port.remove(&p);
        }
    }
}
