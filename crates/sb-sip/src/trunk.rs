//! Carriers' SIP trunks, seen from the SIP layer: which addresses a carrier's requests may
//! come from (those are its and are not challenged), the trunk account's registration with
//! the carrier ([`crate::client_registration`]), and the carrier's health by OPTIONS. The
//! [`crate::Endpoint`] owns one [`TrunkLink`] per trunk and sends what they ask; what a
//! trunk call does with its numbers is the engine's.

use crate::client_registration::{ClientRegistration, RegistrationSettings, RegistrationState};
use crate::peer::Peer;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// An address block: `192.0.2.0/24`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// The block of one address.
    pub fn host(addr: IpAddr) -> Network {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Network { addr, prefix }
    }

    /// Whether `ip` is inside the block (an IPv4 address mapped into IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Network, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or network (like 192.0.2.0/24)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Network { addr, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The trunk account the switchboard registers with the carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkAccount {
    /// The user of the address of record (From and To of the REGISTER).
    pub user: String,
    /// The user the credentials are for (often the same).
    pub auth_user: String,
    /// The password.
    pub password: String,
    /// The Expires asked for, in seconds.
    pub expires: u32,
    /// The user of our Contact: the carrier sends the hospital's calls to it.
    pub contact_user: String,
}

/// One carrier's trunk, as the SIP layer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkSettings {
    /// The trunk's name (config, records, the live API).
    pub name: String,
    /// Where the carrier's proxy is, and over which transport.
    pub carrier: Peer,
    /// The carrier's domain: the host of the URIs we send it.
    pub domain: String,
    /// The account we register, when the carrier trusts us by registration; `None` when it
    /// trusts our address.
    pub account: Option<TrunkAccount>,
    /// The addresses the carrier's requests come from: a request from anywhere else is never
    /// taken as the carrier.
    pub trusted: Vec<Network>,
    /// How often the carrier is sent OPTIONS (zero: never; it counts as reachable).
    pub options_interval: Duration,
    /// How long an OPTIONS may go unanswered before the carrier counts as down.
    pub options_timeout: Duration,
}

impl TrunkSettings {
    /// Whether a request from `ip` is the carrier's.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(ip))
    }
}

/// Where a trunk stands, for the live API and the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkView {
    /// The trunk's name.
    pub name: String,
    /// The registration, when the trunk registers.
    pub registration: Option<RegistrationState>,
    /// Whether the carrier answers OPTIONS (`None` until the first answer, or when the
    /// health check is off).
    pub reachable: Option<bool>,
    /// The status of the carrier's last answer to OPTIONS (408: none came in time).
    pub last_options_status: Option<u16>,
}

/// What a [`TrunkView`] shows that an event is worth: the registration's outcome (not each
/// REGISTER going out) and the reachability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ViewKey {
    registration: Option<(u8, u16)>,
    reachable: Option<bool>,
}

impl TrunkView {
    /// What is worth an event, against what was `shown` last: while a REGISTER is out the
    /// registration shown stays the last outcome (a REGISTER going out is not news), but a
    /// change of reachability meanwhile is (and then its outcome is news too).
    pub(crate) fn key(&self, shown: Option<&ViewKey>) -> Option<ViewKey> {
        let registration = match &self.registration {
            None => None,
            Some(RegistrationState::Registering) => match shown {
                Some(k) if k.reachable == self.reachable => k.registration,
                None if self.reachable.is_none() => return None,
                // Shown for the reachability: as registering, so the outcome shows next.
                _ => Some((4, 0)),
            },
            Some(RegistrationState::Idle) => Some((0, 0)),
            Some(RegistrationState::Registered { .. }) => Some((1, 0)),
            Some(RegistrationState::Failing { status, .. }) => Some((2, *status)),
            Some(RegistrationState::Unregistering) => Some((3, 0)),
        };
        Some(ViewKey {
            registration,
            reachable: self.reachable,
        })
    }

    /// Whether calls may go out on the trunk now: its health check has not marked it down
    /// and, if it registers, the registration is not failing.
    pub fn usable(&self) -> bool {
        self.reachable != Some(false)
            && !matches!(
                self.registration,
                Some(RegistrationState::Failing { .. } | RegistrationState::Idle)
            )
    }
}

/// An OPTIONS out to the carrier.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe {
    pub(crate) tx: crate::transaction::TxId,
    pub(crate) deadline: Instant,
}

/// One trunk's live state inside the endpoint.
#[derive(Debug)]
pub(crate) struct TrunkLink {
    pub(crate) settings: TrunkSettings,
    pub(crate) registration: Option<ClientRegistration>,
    /// The REGISTERs' Call-ID, the same for the registration's life (RFC 3261 §10.2.4).
    pub(crate) reg_call_id: String,
    pub(crate) reg_from_tag: String,
    /// The REGISTER out now: its transaction and CSeq.
    pub(crate) reg_tx: Option<(crate::transaction::TxId, u32)>,
    pub(crate) reachable: Option<bool>,
    pub(crate) last_options_status: Option<u16>,
    pub(crate) next_probe: Option<Instant>,
    pub(crate) probe: Option<Probe>,
    /// What the last event showed.
    pub(crate) shown: Option<ViewKey>,
}

impl TrunkLink {
    pub(crate) fn new(
        settings: TrunkSettings,
        seed: u64,
        call_id: String,
        tag: String,
        now: Instant,
    ) -> TrunkLink {
        let registration = settings.account.as_ref().map(|a| {
            let mut r = ClientRegistration::new(
                RegistrationSettings {
                    registrar_uri: format!("sip:{}", settings.domain),
                    auth_user: a.auth_user.clone(),
                    password: a.password.clone(),
                    expires: a.expires,
                    retry_base: Duration::from_secs(30),
                    retry_max: Duration::from_secs(1800),
                },
                seed,
            );
            r.start();
            r
        });
        let next_probe = (!settings.options_interval.is_zero()).then_some(now);
        TrunkLink {
            settings,
            registration,
            reg_call_id: call_id,
            reg_from_tag: tag,
            reg_tx: None,
            reachable: None,
            last_options_status: None,
            next_probe,
            probe: None,
            shown: None,
        }
    }

    pub(crate) fn view(&self) -> TrunkView {
        TrunkView {
            name: self.settings.name.clone(),
            registration: self.registration.as_ref().map(|r| r.state().clone()),
            reachable: self.reachable,
            last_options_status: self.last_options_status,
        }
    }

    /// When the trunk needs the endpoint next.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [
            self.registration.as_ref().and_then(|r| r.poll_timeout()),
            self.next_probe,
            self.probe.map(|p| p.deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The final answer to our OPTIONS: any answer but 503 (or none in time) means the
    /// carrier is there; the next probe follows after the interval. Returns whether the
    /// reachability changed.
    pub(crate) fn on_probe_answer(&mut self, now: Instant, status: u16) -> bool {
        self.probe = None;
        self.last_options_status = Some(status);
        self.next_probe = Some(now + self.settings.options_interval);
        let up = status != 503 && status != 408;
        let changed = self.reachable != Some(up);
        self.reachable = Some(up);
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses_only() {
        let n: Network = "192.0.2.0/24".parse().unwrap();
        assert!(n.contains("192.0.2.77".parse().unwrap()));
        assert!(!n.contains("192.0.3.1".parse().unwrap()));
        assert!(n.contains("::ffff:192.0.2.9".parse().unwrap()));
        let one: Network = "198.51.100.7".parse().unwrap();
        assert!(one.contains("198.51.100.7".parse().unwrap()));
        assert!(!one.contains("198.51.100.8".parse().unwrap()));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.1".parse().unwrap()));
        let v6: Network = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        assert!(!v6.contains("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn bad_networks_say_why() {
        assert!("192.0.2.0/33"
            .parse::<Network>()
            .unwrap_err()
            .contains("0 to 32"));
        assert!("carrier.example"
            .parse::<Network>()
            .unwrap_err()
            .contains("not an IP"));
        assert!("10.0.0.0/x".parse::<Network>().is_err());
    }
}
