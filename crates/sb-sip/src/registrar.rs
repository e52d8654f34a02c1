//! Location service (RFC 3261 §10.3): bindings per extension, expiry, several contacts per
//! extension, and reachability as learned by OPTIONS qualify.

use crate::peer::Peer;
use sb_sip_msg::NameAddr;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One registered contact of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact.
    pub contact: NameAddr,
    /// The flow the REGISTER came over: requests to the phone go back along it, so phones
    /// behind NAT stay reachable.
    pub flow: Peer,
    /// When it expires.
    pub expires_at: Instant,
    /// The Call-ID of the REGISTER that made it.
    pub call_id: String,
    /// Its CSeq.
    pub cseq: u32,
    /// Whether it answers keep-alives.
    pub reachable: bool,
    /// Its number, unique in the location service.
    pub id: u64,
}

/// How the registrar binds contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarSettings {
    /// Expires when the REGISTER gives none.
    pub default_expires: u32,
    /// The shortest Expires accepted (423 below it).
    pub min_expires: u32,
    /// The longest Expires granted.
    pub max_expires: u32,
    /// The most contacts per user.
    pub max_contacts: usize,
}

impl Default for RegistrarSettings {
    fn default() -> Self {
        RegistrarSettings {
            default_expires: 3600,
            min_expires: 60,
            max_expires: 7200,
            max_contacts: 5,
        }
    }
}

/// The result of applying one REGISTER's contacts.
#[derive(Debug, PartialEq, Eq)]
pub enum Update {
    /// Applied.
    Ok,
    /// 423 with Min-Expires (RFC 3261 §10.3 step 7).
    TooBrief(u32),
    /// More contacts than allowed for one extension.
    TooMany,
    /// An out-of-order REGISTER for an existing binding (same Call-ID, CSeq not higher).
    OutOfOrder,
}

/// What one REGISTER asks of the location service.
#[derive(Debug, Clone)]
pub struct RegisterRequest<'a> {
    /// The user registering.
    pub user: &'a str,
    /// The flow the REGISTER came over.
    pub flow: Peer,
    /// Its Call-ID.
    pub call_id: &'a str,
    /// Its CSeq.
    pub cseq: u32,
    /// Its contacts.
    pub contacts: &'a [ContactRequest],
}

/// One contact of a REGISTER, with its requested expiry in seconds.
#[derive(Debug, Clone)]
pub struct ContactRequest {
    /// The Contact.
    pub contact: NameAddr,
    /// Its Expires.
    pub expires: u32,
}

/// The location service: who is registered where.
#[derive(Debug, Default)]
pub struct Location {
    bindings: HashMap<String, Vec<Binding>>,
    next_id: u64,
}

/// What changed, for the endpoint to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new binding.
    Added {
        /// The user.
        user: String,
        /// The binding.
        id: u64,
    },
    /// A binding registered again.
    Refreshed {
        /// The user.
        user: String,
        /// The binding.
        id: u64,
    },
    /// A binding gone (expired, or un-registered).
    Removed {
        /// The user.
        user: String,
        /// The binding.
        id: u64,
    },
}

impl Location {
    /// A user's bindings now.
    pub fn bindings(&self, user: &str) -> &[Binding] {
        self.bindings.get(user).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Unexpired, reachable bindings: where a call to `user` may be offered.
    pub fn lookup(&self, user: &str, now: Instant) -> Vec<&Binding> {
        self.bindings(user)
            .iter()
            .filter(|b| b.reachable && b.expires_at > now)
            .collect()
    }

    /// Every user with a binding.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.bindings.keys().map(String::as_str)
    }

    /// One binding, to change.
    pub fn binding_mut(&mut self, user: &str, id: u64) -> Option<&mut Binding> {
        self.bindings.get_mut(user)?.iter_mut().find(|b| b.id == id)
    }

    /// Removes every binding of `user` (Contact: *).
    pub fn remove_all(&mut self, user: &str, call_id: &str, cseq: u32) -> (Update, Vec<Change>) {
        let Some(list) = self.bindings.get_mut(user) else {
            return (Update::Ok, vec![]);
        };
        if list.iter().any(|b| b.call_id == call_id && cseq <= b.cseq) {
            return (Update::OutOfOrder, vec![]);
        }
        let changes = list
            .drain(..)
            .map(|b| Change::Removed {
                user: user.to_string(),
                id: b.id,
            })
            .collect();
        self.bindings.remove(user);
        (Update::Ok, changes)
    }

    /// Applies the contacts of one REGISTER atomically: either all change or none.
    pub fn update(
        &mut self,
        now: Instant,
        s: &RegistrarSettings,
        r: &RegisterRequest<'_>,
    ) -> (Update, Vec<Change>) {
        let RegisterRequest {
            user,
            flow,
            call_id,
            cseq,
            contacts,
        } = *r;
        if contacts
            .iter()
            .any(|c| c.expires != 0 && c.expires < s.min_expires)
        {
            return (Update::TooBrief(s.min_expires), vec![]);
        }
        let mut list = self.bindings.get(user).cloned().unwrap_or_default();
        let mut changes = Vec::new();
        for c in contacts {
            let Some(uri) = c.contact.uri.as_sip() else {
                continue;
            };
            let existing = list
                .iter()
                .position(|b| b.contact.uri.as_sip().is_some_and(|u| u.same_binding(uri)));
            if let Some(i) = existing {
                if list[i].call_id == call_id && cseq <= list[i].cseq {
                    return (Update::OutOfOrder, vec![]);
                }
            }
            match (existing, c.expires) {
                (Some(i), 0) => {
                    changes.push(Change::Removed {
                        user: user.to_string(),
                        id: list[i].id,
                    });
                    list.remove(i);
                }
                (None, 0) => {}
                (Some(i), secs) => {
                    let b = &mut list[i];
                    b.contact = c.contact.clone();
                    b.flow = flow;
                    b.expires_at = now + Duration::from_secs(secs.min(s.max_expires).into());
                    b.call_id = call_id.to_string();
                    b.cseq = cseq;
                    b.reachable = true;
                    changes.push(Change::Refreshed {
                        user: user.to_string(),
                        id: b.id,
                    });
                }
                (None, secs) => {
                    self.next_id += 1;
                    list.push(Binding {
                        contact: c.contact.clone(),
                        flow,
                        expires_at: now + Duration::from_secs(secs.min(s.max_expires).into()),
                        call_id: call_id.to_string(),
                        cseq,
                        reachable: true,
                        id: self.next_id,
                    });
                    changes.push(Change::Added {
                        user: user.to_string(),
                        id: self.next_id,
                    });
                }
            }
        }
        if list.len() > s.max_contacts {
            return (Update::TooMany, vec![]);
        }
        if list.is_empty() {
            self.bindings.remove(user);
        } else {
            self.bindings.insert(user.to_string(), list);
        }
        (Update::Ok, changes)
    }

    /// Drops expired bindings.
    pub fn expire(&mut self, now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        self.bindings.retain(|user, list| {
            list.retain(|b| {
                let live = b.expires_at > now;
                if !live {
                    changes.push(Change::Removed {
                        user: user.clone(),
                        id: b.id,
                    });
                }
                live
            });
            !list.is_empty()
        });
        changes
    }

    /// How many bindings there are.
    pub fn count(&self) -> usize {
        self.bindings.values().map(Vec::len).sum()
    }
}
