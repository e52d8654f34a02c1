//! The checks of the phone network's sections: `[numbering]`, `[[trunks]]`, `[outside]` and
//! `[[outbound]]`, every problem reported with its line like the rest of the file.

use crate::model::{Outside, Trunk};
use crate::raw::RawConfig;
use crate::validate::Checker;
use sb_engine::trunk::{CallerId, NumberFormat, Numbering, OutboundRule, Pattern, TrunkPlan};
use sb_sip::trunk::{Network, TrunkAccount, TrunkSettings};
use sb_sip::{Credentials, Peer};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

const KINDS: [&str; 3] = ["agent", "operator", "department"];

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn outside(c: &mut Checker<'_>, raw: &RawConfig, extensions: &[&str]) -> Outside {
    let n = &raw.numbering;
    for (key, v) in [
        ("numbering.country_code", &n.country_code),
        ("numbering.international_prefix", &n.international_prefix),
    ] {
        if !digits(v.get_ref()) {
            c.error(
                "SB130",
                v,
                format!("{key} `{}` must be digits", v.get_ref()),
            );
        }
    }
    if !n.trunk_prefix.get_ref().bytes().all(|b| b.is_ascii_digit()) {
        c.error(
            "SB130",
            &n.trunk_prefix,
            format!(
                "numbering.trunk_prefix `{}` must be digits",
                n.trunk_prefix.get_ref()
            ),
        );
    }
    let numbering = Numbering {
        country_code: n.country_code.get_ref().clone(),
        trunk_prefix: n.trunk_prefix.get_ref().clone(),
        international_prefix: n.international_prefix.get_ref().clone(),
        no_trunk_prefix: n
            .no_trunk_prefix
            .iter()
            .map(|p| p.get_ref().clone())
            .collect(),
    };

    let mut trunks: Vec<Trunk> = Vec::new();
    let mut all_dids: Vec<String> = Vec::new();
    for t in &raw.trunks {
        let name = t.name.get_ref().clone();
        if name.trim().is_empty() || trunks.iter().any(|x| x.sip.name == name) {
            c.error(
                "SB131",
                &t.name,
                format!("trunk name `{name}` is empty or used twice"),
            );
        }
        let transport = match t.transport.as_ref().map(|v| v.get_ref().as_str()) {
            None | Some("udp") => sb_sip::TransportKind::Udp,
            Some("tcp") => sb_sip::TransportKind::Tcp,
            Some(other) => {
                if let Some(v) = &t.transport {
                    c.error(
                        "SB132",
                        v,
                        format!("trunk `{name}`: transport `{other}` is not udp or tcp"),
                    );
                }
                sb_sip::TransportKind::Udp
            }
        };
        let addr_text = t.address.get_ref();
        let resolved: Option<SocketAddr> = addr_text
            .parse()
            .ok()
            .or_else(|| addr_text.to_socket_addrs().ok().and_then(|mut a| a.next()));
        let Some(addr) = resolved else {
            c.error(
                "SB133",
                &t.address,
                format!(
                    "trunk `{name}`: address `{addr_text}` is not host:port, or the host does not resolve"
                ),
            );
            continue;
        };
        let host = addr_text
            .rsplit_once(':')
            .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']').to_string())
            .unwrap_or_else(|| addr.ip().to_string());
        let domain = t
            .domain
            .as_ref()
            .map(|d| d.get_ref().clone())
            .unwrap_or(host);
        let mut trusted = Vec::new();
        for net in &t.trust {
            match net.get_ref().parse::<Network>() {
                Ok(n) => trusted.push(n),
                Err(e) => c.error("SB134", net, format!("trunk `{name}`: trust {e}")),
            }
        }
        if trusted.is_empty() {
            trusted.push(Network::host(addr.ip()));
        }
        let format = match t.numbers.as_ref().map(|v| v.get_ref().as_str()) {
            None | Some("e164") => NumberFormat::E164,
            Some("national") => NumberFormat::National,
            Some(other) => {
                if let Some(v) = &t.numbers {
                    c.error(
                        "SB135",
                        v,
                        format!("trunk `{name}`: numbers `{other}` is not e164 or national"),
                    );
                }
                NumberFormat::E164
            }
        };
        let mut dids = Vec::new();
        for (did, internal) in &t.dids {
            let Some(norm) = numbering.normalise(did, format) else {
                c.error(
                    "SB136",
                    internal,
                    format!("trunk `{name}`: DID `{did}` is not a number"),
                );
                continue;
            };
            if all_dids.contains(&norm) {
                c.error(
                    "SB136",
                    internal,
                    format!("trunk `{name}`: DID `{did}` is on another trunk too"),
                );
            }
            all_dids.push(norm.clone());
            if !digits(internal.get_ref()) {
                c.error(
                    "SB136",
                    internal,
                    format!(
                        "trunk `{name}`: DID `{did}` must name an internal number (digits), not `{}`",
                        internal.get_ref()
                    ),
                );
            }
            dids.push((norm, internal.get_ref().clone()));
        }
        let caller = numbering.normalise(t.caller_id.get_ref(), format);
        if caller.is_none() {
            c.error(
                "SB137",
                &t.caller_id,
                format!(
                    "trunk `{name}`: caller_id `{}` is not a number",
                    t.caller_id.get_ref()
                ),
            );
        }
        let account = t.register.as_ref().map(|r| {
            if r.password.get_ref().is_empty() {
                c.error(
                    "SB138",
                    &r.password,
                    format!("trunk `{name}`: register.password is empty"),
                );
            }
            let expires = r.expires.as_ref().map_or(600, |e| *e.get_ref());
            if !(60..=86_400).contains(&expires) {
                if let Some(e) = &r.expires {
                    c.error(
                        "SB138",
                        e,
                        format!("trunk `{name}`: register.expires must be 60 to 86400 seconds"),
                    );
                }
            }
            let user = r.user.get_ref().clone();
            TrunkAccount {
                auth_user: r
                    .auth_user
                    .as_ref()
                    .map_or_else(|| user.clone(), |a| a.get_ref().clone()),
                password: r.password.get_ref().clone(),
                expires: expires as u32,
                contact_user: r
                    .contact_user
                    .as_ref()
                    .map_or_else(|| user.clone(), |a| a.get_ref().clone()),
                user,
            }
        });
        let options = t.options_seconds.as_ref().map_or(30, |o| *o.get_ref());
        let interval = Duration::from_secs(options);
        let credentials = account.as_ref().map(|a| Credentials {
            user: a.auth_user.clone(),
            password: a.password.clone(),
        });
        let peer = Peer { transport, addr };
        trunks.push(Trunk {
            sip: TrunkSettings {
                name: name.clone(),
                carrier: peer,
                domain,
                account,
                trusted,
                options_interval: interval,
                // Long enough for a carrier across the country, short enough to fail over
                // before callers notice; never longer than the interval itself.
                options_timeout: Duration::from_secs(5).min(interval.max(Duration::from_secs(1))),
            },
            plan: TrunkPlan {
                name,
                format,
                dids,
                caller_id: CallerId {
                    number: caller.unwrap_or_default(),
                    name: t.caller_name.as_ref().map(|n| n.get_ref().clone()),
                    asserted: t.asserted_identity,
                    withheld: t.withhold,
                },
                max_calls: t.max_calls.as_ref().map_or(0, |m| *m.get_ref() as u32),
                priority: t.priority.as_ref().map_or(100, |p| *p.get_ref() as u32),
                credentials,
            },
        });
    }

    let mut rules = Vec::new();
    for r in &raw.outbound {
        let name = r.name.get_ref().clone();
        let mut patterns = Vec::new();
        for p in &r.patterns {
            match Pattern::parse(p.get_ref()) {
                Ok(p) => patterns.push(p),
                Err(e) => c.error("SB140", p, format!("outbound rule `{name}`: {e}")),
            }
        }
        if r.patterns.is_empty() {
            c.error(
                "SB140",
                &r.name,
                format!("outbound rule `{name}` has no patterns"),
            );
        }
        for role in &r.roles {
            if !KINDS.contains(&role.get_ref().as_str()) {
                c.error(
                    "SB141",
                    role,
                    format!(
                        "outbound rule `{name}`: role `{}` is not agent, operator or department",
                        role.get_ref()
                    ),
                );
            }
        }
        for e in &r.extensions {
            if !extensions.contains(&e.get_ref().as_str()) {
                c.error(
                    "SB141",
                    e,
                    format!(
                        "outbound rule `{name}`: extension {} does not exist",
                        e.get_ref()
                    ),
                );
            }
        }
        for t in &r.trunks {
            if !trunks.iter().any(|x| &x.sip.name == t.get_ref()) {
                c.error(
                    "SB142",
                    t,
                    format!(
                        "outbound rule `{name}`: there is no trunk `{}`",
                        t.get_ref()
                    ),
                );
            }
        }
        let prepend = r
            .prepend
            .as_ref()
            .map(|p| p.get_ref().clone())
            .unwrap_or_default();
        if let Some(p) = r
            .prepend
            .as_ref()
            .filter(|p| !p.get_ref().bytes().all(|b| b.is_ascii_digit()))
        {
            c.error(
                "SB140",
                p,
                format!("outbound rule `{name}`: prepend must be digits"),
            );
        }
        rules.push(OutboundRule {
            name,
            patterns,
            roles: r.roles.iter().map(|x| x.get_ref().clone()).collect(),
            extensions: r.extensions.iter().map(|x| x.get_ref().clone()).collect(),
            engine: r.engine,
            strip: r.strip.as_ref().map_or(0, |s| *s.get_ref() as usize),
            prepend,
            trunks: r.trunks.iter().map(|x| x.get_ref().clone()).collect(),
        });
    }
    let l = &raw.outside;
    Outside {
        numbering,
        trunks,
        rules,
        per_extension: *l.per_extension.get_ref() as u32,
        setup_timeout: c.positive("outside.setup_timeout_seconds", &l.setup_timeout_seconds),
        ring: c.positive("outside.ring_seconds", &l.ring_seconds),
    }
}
