//! Phase two: every check, every problem collected, none short-circuiting another.

use crate::model::{self, ExtensionKind, Model};
use crate::raw::RawConfig;
use crate::{Diagnostic, Source};
use sb_types::civil::{days_from_civil, hhmm, utc_offset};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

pub(crate) struct Checker<'a> {
    pub(crate) source: &'a Source,
    pub(crate) out: Vec<Diagnostic>,
}

impl Checker<'_> {
    pub(crate) fn error<T>(&mut self, code: &'static str, at: &Spanned<T>, message: String) {
        let span = at.span();
        let line = if span.end == 0 {
            0
        } else {
            self.source.line_of(span.start)
        };
        self.out.push(Diagnostic {
            code,
            file: self.source.name.clone(),
            line,
            message,
        });
    }

    fn addr(&mut self, key: &str, v: &Spanned<String>) -> Option<SocketAddr> {
        match v.get_ref().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.error(
                    "SB101",
                    v,
                    format!(
                        "{key}: `{}` is not an IP address with a port (like 127.0.0.1:5060)",
                        v.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// Seconds that must be above zero.
    pub(crate) fn positive(&mut self, key: &str, v: &Spanned<u64>) -> Duration {
        Duration::from_secs(self.count(key, v) as u64)
    }

    /// A number that must be above zero.
    fn count(&mut self, key: &str, v: &Spanned<u64>) -> usize {
        if *v.get_ref() == 0 {
            self.error("SB115", v, format!("{key} must be greater than zero"));
        }
        *v.get_ref() as usize
    }
}

fn port_range(s: &str) -> Option<std::ops::RangeInclusive<u16>> {
    let (a, b) = s.split_once('-')?;
    let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    // RTP wants an even start and room for at least one RTP/RTCP pair (RFC 3550 §11).
    (a > 0 && a < b).then_some(a..=b)
}

/// `YYYY-MM-DDTHH:MM:SS+HH:MM` (or `Z`) to Unix seconds.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once('T')?;
    let mut d = date.split('-');
    let (y, mo, da): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (time, offset) = match rest.strip_suffix('Z') {
        Some(t) => (t, 0),
        None => {
            let at = rest.rfind(['+', '-'])?;
            let sign = if &rest[at..at + 1] == "-" { -1 } else { 1 };
            let (oh, om) = rest[at + 1..].split_once(':')?;
            (
                &rest[..at],
                sign * (oh.parse::<i64>().ok()? * 60 + om.parse::<i64>().ok()?),
            )
        }
    };
    let mut t = time.split(':');
    let (h, mi) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec = t.next().map(|x| x.parse::<i64>().ok()).unwrap_or(Some(0))?;
    let valid = (1..=12).contains(&mo)
        && (1..=31).contains(&da)
        && h < 24
        && mi < 60
        && sec < 60
        && offset.abs() <= 14 * 60;
    valid.then(|| days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + sec - offset * 60)
}

/// The control API's tokens (SB122): a known role, long enough to be a secret, each once;
/// an agent's token names an agent extension.
fn api_tokens(
    c: &mut Checker,
    raw: &[crate::raw::ApiToken],
    extensions: &[model::Extension],
) -> Vec<model::ApiToken> {
    let mut out: Vec<model::ApiToken> = Vec::new();
    for t in raw {
        let Some(role) = role_of(c, "SB122", "http.tokens", &t.role) else {
            continue;
        };
        let token = t.token.get_ref();
        if token.len() < 16
            || token
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control())
        {
            c.error(
                "SB122",
                &t.token,
                "http.tokens: a token must be at least 16 characters without spaces".into(),
            );
            continue;
        }
        if out.iter().any(|o| o.token == *token) {
            c.error(
                "SB122",
                &t.token,
                "http.tokens: the same token is given twice".into(),
            );
            continue;
        }
        let Some(agent) = agent_of(
            c,
            ("SB122", "http.tokens"),
            (role, &t.role),
            t.agent.as_ref(),
            "an agent's token must name its extension",
            extensions,
        ) else {
            continue;
        };
        out.push(model::ApiToken {
            token: token.clone(),
            role,
            agent,
        });
    }
    out
}

/// A role of the API's tokens and the consoles' users.
fn role_of(
    c: &mut Checker,
    code: &'static str,
    what: &str,
    role: &Spanned<String>,
) -> Option<model::Role> {
    match role.get_ref().as_str() {
        "agent" => Some(model::Role::Agent),
        "operator" => Some(model::Role::Operator),
        "supervisor" => Some(model::Role::Supervisor),
        "admin" => Some(model::Role::Admin),
        other => {
            c.error(
                code,
                role,
                format!("{what}: role `{other}` is not one of agent, operator, supervisor, admin"),
            );
            None
        }
    }
}

/// The extension an agent's token or user acts for: required for the agent role, and one
/// of ours when given. `None` once the mistake is reported.
fn agent_of(
    c: &mut Checker,
    (code, what): (&'static str, &str),
    (role, role_at): (model::Role, &Spanned<String>),
    agent: Option<&Spanned<String>>,
    missing: &str,
    extensions: &[model::Extension],
) -> Option<Option<String>> {
    match agent {
        None if role == model::Role::Agent => {
            c.error(
                code,
                role_at,
                format!("{what}: {missing} (`agent = \"1001\"`)"),
            );
            None
        }
        Some(a) if !extensions.iter().any(|e| e.number == *a.get_ref()) => {
            c.error(
                code,
                a,
                format!("{what}: agent {} is not an extension", a.get_ref()),
            );
            None
        }
        a => Some(a.map(|a| a.get_ref().clone())),
    }
}

/// The consoles' users (SB143): a name given once, an Argon2id hash, a known role, an
/// agent's extension, a known language.
fn console_users(
    c: &mut Checker,
    raw: &[crate::raw::ConsoleUser],
    extensions: &[model::Extension],
) -> Vec<model::ConsoleUser> {
    let mut out: Vec<model::ConsoleUser> = Vec::new();
    for u in raw {
        let name = u.name.get_ref();
        if name.trim().is_empty()
            || name.chars().any(|ch| ch.is_whitespace() || ch.is_control())
            || out.iter().any(|o| o.name == *name)
        {
            c.error(
                "SB143",
                &u.name,
                format!("http.users: user name `{name}` is empty, has spaces or is given twice"),
            );
            continue;
        }
        if let Err(why) = sb_api::users::check_hash(u.password_hash.get_ref()) {
            c.error(
                "SB143",
                &u.password_hash,
                format!("http.users: {name}'s password_hash: {why}"),
            );
            continue;
        }
        let Some(role) = role_of(c, "SB143", "http.users", &u.role) else {
            continue;
        };
        let Some(agent) = agent_of(
            c,
            ("SB143", "http.users"),
            (role, &u.role),
            u.agent.as_ref(),
            &format!("agent {name} must name their extension"),
            extensions,
        ) else {
            continue;
        };
        let language = match &u.language {
            None => sb_api::users::Language::default(),
            Some(l) => match sb_api::users::Language::parse(l.get_ref()) {
                Some(l) => l,
                None => {
                    c.error(
                        "SB143",
                        l,
                        format!("http.users: language `{}` is not zh-CN or en", l.get_ref()),
                    );
                    continue;
                }
            },
        };
        out.push(model::ConsoleUser {
            name: name.clone(),
            role,
            agent,
            language,
            password_hash: u.password_hash.get_ref().clone(),
        });
    }
    out
}

/// The reports' time zone, short-abandon threshold and shifts (SB119, SB120).
fn reports(c: &mut Checker, r: &crate::raw::Reports) -> model::Reports {
    let utc_offset_min = utc_offset(r.time_zone.get_ref())
        .filter(|m| m % 15 == 0)
        .unwrap_or_else(|| {
        c.error(
            "SB119",
            &r.time_zone,
            format!(
                "reports.time_zone `{}` is not known: use Asia/Shanghai, UTC or an offset like +08:00",
                r.time_zone.get_ref()
            ),
        );
        480
    });
    let mut shifts = Vec::new();
    for s in &r.shifts {
        let parsed = s
            .hours
            .get_ref()
            .split_once('-')
            .and_then(|(a, b)| Some((hhmm(a.trim())?, hhmm(b.trim())?)))
            // The reports keep figures per quarter hour.
            .filter(|(a, b)| a < b && a % 15 == 0 && b % 15 == 0);
        match parsed {
            Some((start, end)) if !s.name.get_ref().trim().is_empty() => {
                shifts.push(model::Shift {
                    name: s.name.get_ref().clone(),
                    start,
                    end,
                })
            }
            _ => c.error(
                "SB120",
                &s.hours,
                format!(
                    "reports.shifts: `{}` `{}` must be a name and HH:MM-HH:MM on quarter hours, the start first",
                    s.name.get_ref(),
                    s.hours.get_ref()
                ),
            ),
        }
    }
    model::Reports {
        utc_offset_min,
        short_abandon: Duration::from_secs(*r.short_abandon_seconds.get_ref()),
        shifts,
    }
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.len() <= 15 && s.bytes().all(|b| b.is_ascii_digit())
}

pub fn validate(source: &Source, raw: &RawConfig) -> Result<Model, Vec<Diagnostic>> {
    let mut c = Checker {
        source,
        out: Vec::new(),
    };

    if raw.hospital.name.get_ref().trim().is_empty() {
        c.error(
            "SB114",
            &raw.hospital.name,
            "hospital.name must not be empty".into(),
        );
    }
    let number = &raw.hospital.number;
    if !is_number(number.get_ref()) {
        c.error(
            "SB113",
            number,
            format!("hospital.number `{}` must be digits", number.get_ref()),
        );
    }
    let sip_listen = c.addr("sip.listen", &raw.sip.listen);
    let http_listen = c.addr("http.listen", &raw.http.listen);
    let metrics_listen = raw
        .http
        .metrics_listen
        .as_ref()
        .and_then(|v| c.addr("http.metrics_listen", v));
    let metrics_token = raw.http.metrics_token.as_ref().and_then(|t| {
        let v = t.get_ref();
        if v.len() < 16 || v.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
            c.error(
                "SB144",
                t,
                "http.metrics_token must be at least 16 characters without spaces".into(),
            );
            return None;
        }
        Some(v.clone())
    });
    if raw.sip.realm.get_ref().trim().is_empty() || raw.sip.realm.get_ref().contains(['"', '\\']) {
        c.error(
            "SB114",
            &raw.sip.realm,
            "sip.realm must be a non-empty name without quotes or backslashes".into(),
        );
    }
    let qualify_interval = c.positive("sip.qualify_seconds", &raw.sip.qualify_seconds);
    let nonce_lifetime = c.positive("sip.nonce_seconds", &raw.sip.nonce_seconds);
    let tcp_idle = c.positive("sip.tcp_idle_seconds", &raw.sip.tcp_idle_seconds);

    let algs = &raw.sip.digest_algorithms;
    let known = algs.get_ref().iter().all(|a| a == "SHA-256" || a == "MD5");
    let dup = algs.get_ref().len() == 2 && algs.get_ref()[0] == algs.get_ref()[1];
    if algs.get_ref().is_empty() || algs.get_ref().len() > 2 || !known || dup {
        c.error("SB116", algs, "sip.digest_algorithms must list \"SHA-256\" and/or \"MD5\", each once, most preferred first".into());
    }

    let t = &raw.sip.timers;
    let (t1, t2, t4) = (*t.t1_ms.get_ref(), *t.t2_ms.get_ref(), *t.t4_ms.get_ref());
    if t1 == 0 || t1 > t2 {
        c.error(
            "SB110",
            &t.t1_ms,
            format!("sip.timers: T1 ({t1} ms) must be above zero and at most T2 ({t2} ms)"),
        );
    }
    if t4 == 0 {
        c.error(
            "SB110",
            &t.t4_ms,
            "sip.timers: T4 must be above zero".into(),
        );
    }

    let r = &raw.sip.registrar;
    let (min, max, def) = (
        *r.min_expires.get_ref(),
        *r.max_expires.get_ref(),
        *r.default_expires.get_ref(),
    );
    if min == 0 || min > max {
        c.error("SB111", &r.min_expires, format!("sip.registrar: min_expires ({min}) must be above zero and at most max_expires ({max})"));
    }
    if def < min || def > max {
        c.error("SB111", &r.default_expires, format!("sip.registrar: default_expires ({def}) must lie between min_expires ({min}) and max_expires ({max})"));
    }
    if *r.max_contacts.get_ref() == 0 {
        c.error(
            "SB111",
            &r.max_contacts,
            "sip.registrar: max_contacts must be at least 1".into(),
        );
    }

    let s = &raw.security;
    for (key, v) in [
        ("max_user_failures", &s.max_user_failures),
        ("max_address_failures", &s.max_address_failures),
    ] {
        if *v.get_ref() == 0 {
            c.error(
                "SB115",
                v,
                format!("security.{key} must be greater than zero"),
            );
        }
    }
    if s.max_address_failures.get_ref() < s.max_user_failures.get_ref() {
        c.error(
            "SB115",
            &s.max_address_failures,
            "security.max_address_failures must not be below max_user_failures: one phone must not take the address off before itself".into(),
        );
    }
    let failure_window = c.positive("security.failure_window_seconds", &s.failure_window_seconds);
    let ban = c.positive("security.ban_seconds", &s.ban_seconds);

    let rtp_ports = port_range(raw.rtp.port_range.get_ref());
    if rtp_ports.is_none() {
        c.error(
            "SB102",
            &raw.rtp.port_range,
            format!(
                "rtp.port_range `{}` must be LOW-HIGH with 0 < LOW < HIGH <= 65535",
                raw.rtp.port_range.get_ref()
            ),
        );
    }
    let lag = *raw.sip.overload_lag_ms.get_ref();
    if lag != 0 && !(20..=10_000).contains(&lag) {
        c.error(
            "SB112",
            &raw.sip.overload_lag_ms,
            format!("sip.overload_lag_ms ({lag}) must be 0 (never refuse) or 20-10000"),
        );
    }
    let grace = *raw.shutdown.grace_seconds.get_ref();
    if grace > 3600 {
        c.error(
            "SB112",
            &raw.shutdown.grace_seconds,
            format!("shutdown.grace_seconds ({grace}) must be at most 3600"),
        );
    }
    let spin = *raw.rtp.timer_spin_ms.get_ref();
    if spin > 15 {
        c.error(
            "SB102",
            &raw.rtp.timer_spin_ms,
            format!("rtp.timer_spin_ms ({spin}) must be at most 15 (a 20 ms packet interval)"),
        );
    }
    if raw.store.path.get_ref().trim().is_empty() {
        c.error(
            "SB114",
            &raw.store.path,
            "store.path must not be empty".into(),
        );
    }
    let ivr = &raw.ivr;
    let languages: Vec<String> = ivr
        .languages
        .get_ref()
        .iter()
        .map(|l| l.get_ref().clone())
        .collect();
    if languages.is_empty() {
        c.error(
            "SB117",
            &ivr.languages,
            "ivr.languages must name at least one prompt language".into(),
        );
    }
    for l in ivr.languages.get_ref() {
        let ok = !l.get_ref().is_empty()
            && l.get_ref()
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
        if !ok {
            c.error(
                "SB117",
                l,
                format!(
                    "ivr.languages: `{}` is not a language tag like zh-CN",
                    l.get_ref()
                ),
            );
        }
    }
    if !languages.contains(ivr.default_language.get_ref()) {
        c.error(
            "SB117",
            &ivr.default_language,
            format!(
                "ivr.default_language `{}` is not one of ivr.languages",
                ivr.default_language.get_ref()
            ),
        );
    }
    let clock_start = match &ivr.clock_start {
        None => None,
        Some(v) => {
            let t = parse_rfc3339(v.get_ref());
            if t.is_none() {
                c.error(
                    "SB117",
                    v,
                    format!(
                        "ivr.clock_start `{}` is not like 2026-11-23T21:00:00+08:00",
                        v.get_ref()
                    ),
                );
            }
            t
        }
    };
    let (rings, cycle) = (
        *raw.sla.rings.get_ref(),
        *raw.sla.ring_cycle_seconds.get_ref(),
    );
    if !(1..=20).contains(&rings) {
        c.error(
            "SB112",
            &raw.sla.rings,
            format!("sla.rings ({rings}) must be between 1 and 20"),
        );
    }
    if !(1..=30).contains(&cycle) {
        c.error(
            "SB112",
            &raw.sla.ring_cycle_seconds,
            format!("sla.ring_cycle_seconds ({cycle}) must be between 1 and 30"),
        );
    }
    let (wrap_up, misses) = (
        *raw.acd.wrap_up_seconds.get_ref(),
        *raw.acd.pause_after_misses.get_ref(),
    );
    if wrap_up > 600 {
        c.error(
            "SB112",
            &raw.acd.wrap_up_seconds,
            format!("acd.wrap_up_seconds ({wrap_up}) must be at most 600"),
        );
    }
    if !(1..=20).contains(&misses) {
        c.error(
            "SB112",
            &raw.acd.pause_after_misses,
            format!("acd.pause_after_misses ({misses}) must be between 1 and 20"),
        );
    }

    let code_ok = |s: &str| {
        s.len() >= 2
            && s.len() <= 4
            && s.starts_with('*')
            && s[1..].bytes().all(|b| b.is_ascii_digit())
    };
    let f = &raw.features;
    let codes = [
        ("features.hold", &f.hold),
        ("features.mute", &f.mute),
        ("features.consult", &f.consult),
        ("features.transfer", &f.transfer),
        ("features.complete", &f.complete),
        ("features.back", &f.back),
        ("features.swap", &f.swap),
        ("features.join", &f.join),
        ("features.survey", &f.survey),
    ];
    for (i, (key, v)) in codes.iter().enumerate() {
        let s = v.get_ref();
        let hash_ok = *key == "features.complete" && s == "#";
        if !code_ok(s) && !hash_ok {
            c.error(
                "SB123",
                *v,
                format!("{key} `{s}` must be * and one to three digits, like *1"),
            );
            continue;
        }
        // The phone sends keys one by one: a code that begins another would always win.
        if let Some((other, _)) = codes[..i].iter().find(|(_, o)| {
            o.get_ref().starts_with(s.as_str()) || s.starts_with(o.get_ref().as_str())
        }) {
            c.error(
                "SB123",
                *v,
                format!("{key} `{s}` clashes with {other}: one code must not begin another"),
            );
        }
    }
    // Dialled codes are whole numbers, apart from the in-call ones; the pause code takes a
    // reason after it, so none may begin another.
    let dialled = [
        ("features.login", &f.login),
        ("features.logout", &f.logout),
        ("features.pause", &f.pause),
        ("features.unpause", &f.unpause),
    ];
    for (i, (key, v)) in dialled.iter().enumerate() {
        let s = v.get_ref();
        if !code_ok(s) {
            c.error(
                "SB123",
                *v,
                format!("{key} `{s}` must be * and one to three digits, like *71"),
            );
        } else if let Some((other, _)) = dialled[..i].iter().find(|(_, o)| {
            o.get_ref().starts_with(s.as_str()) || s.starts_with(o.get_ref().as_str())
        }) {
            c.error(
                "SB123",
                *v,
                format!("{key} `{s}` clashes with {other}: one code must not begin another"),
            );
        }
    }
    for (code, reason) in f.pause_reasons.get_ref() {
        if code.is_empty() || code.len() > 2 || !code.bytes().all(|b| b.is_ascii_digit()) {
            c.error(
                "SB123",
                &f.pause_reasons,
                format!("features.pause_reasons: `{code}` must be one or two digits"),
            );
        }
        if reason.trim().is_empty() {
            c.error(
                "SB123",
                &f.pause_reasons,
                format!("features.pause_reasons: code `{code}` needs a reason"),
            );
        }
    }
    let ring = *f.transfer_ring_seconds.get_ref();
    if !(5..=120).contains(&ring) {
        c.error(
            "SB112",
            &f.transfer_ring_seconds,
            format!("features.transfer_ring_seconds ({ring}) must be between 5 and 120"),
        );
    }

    let mut extensions = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for e in &raw.extensions {
        let n = e.number.get_ref().as_str();
        if !is_number(n) {
            c.error(
                "SB104",
                &e.number,
                format!("extension number `{n}` must be digits"),
            );
        }
        if let Some(first) = seen.insert(n, c.source.line_of(e.number.span().start)) {
            c.error(
                "SB103",
                &e.number,
                format!("extension {n} is defined twice (first on line {first})"),
            );
        }
        if n == number.get_ref() {
            c.error(
                "SB113",
                &e.number,
                format!("extension {n} clashes with the hospital number"),
            );
        }
        let kind = match e.kind.get_ref().as_str() {
            "agent" => Some(ExtensionKind::Agent),
            "operator" => Some(ExtensionKind::Operator),
            "department" => Some(ExtensionKind::Department),
            other => {
                c.error(
                    "SB105",
                    &e.kind,
                    format!(
                        "extension {n}: kind `{other}` is not one of agent, operator, department"
                    ),
                );
                None
            }
        };
        if e.password.get_ref().len() < 8 {
            c.error(
                "SB106",
                &e.password,
                format!("extension {n}: password must have at least 8 characters"),
            );
        }
        if let Some(kind) = kind {
            extensions.push(model::Extension {
                number: n.to_string(),
                name: e.name.get_ref().clone(),
                kind,
                password: e.password.get_ref().clone(),
            });
        }
    }

    let ext_numbers: Vec<&str> = seen.keys().copied().collect();
    let outside = crate::outside::outside(&mut c, raw, &ext_numbers);

    let mut queues = Vec::new();
    let mut queue_names: HashMap<&str, ()> = HashMap::new();
    let mut queue_numbers: HashMap<&str, &str> = HashMap::new();
    for q in &raw.queues {
        let name = q.name.get_ref().as_str();
        if queue_names.insert(name, ()).is_some() {
            c.error("SB107", &q.name, format!("queue `{name}` is defined twice"));
        }
        if let Some(n) = &q.number {
            let v = n.get_ref().as_str();
            let roster = raw.roster.number.as_ref().map(|r| r.get_ref().as_str());
            let clash = if !is_number(v) {
                Some("must be digits".to_string())
            } else if seen.contains_key(v) {
                Some("is an extension".to_string())
            } else if v == number.get_ref() || roster == Some(v) {
                Some("is the hospital or the on-duty number".to_string())
            } else {
                queue_numbers
                    .insert(v, name)
                    .map(|other| format!("is queue `{other}`'s number too"))
            };
            if let Some(why) = clash {
                c.error("SB124", n, format!("queue `{name}`: number {v} {why}"));
            }
        }
        for a in &q.agents {
            if !seen.contains_key(a.get_ref().as_str()) {
                c.error(
                    "SB108",
                    a,
                    format!(
                        "queue `{name}` names agent {} which is not an extension",
                        a.get_ref()
                    ),
                );
            }
        }
        let widen = q.widen_seconds.as_ref().map(|w| *w.get_ref()).unwrap_or(30);
        let strategy = match q.strategy.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("longest-idle") => model::QueueStrategy::LongestIdle,
            Some("round-robin") => model::QueueStrategy::RoundRobin,
            Some("ring-all") => model::QueueStrategy::RingAll,
            Some("fewest-calls") => model::QueueStrategy::FewestCalls,
            Some("skills") => model::QueueStrategy::Skills {
                widen: Duration::from_secs(widen.max(1)),
            },
            Some(other) => {
                if let Some(sp) = &q.strategy {
                    c.error("SB118", sp, format!("queue `{name}`: strategy `{other}` is not one of longest-idle, round-robin, ring-all, fewest-calls, skills"));
                }
                model::QueueStrategy::LongestIdle
            }
        };
        for (agent, level) in &q.levels {
            if !q.agents.iter().any(|a| a.get_ref() == agent) {
                c.error(
                    "SB118",
                    level,
                    format!("queue `{name}`: levels names {agent}, who is not one of its agents"),
                );
            }
            if *level.get_ref() == 0 {
                c.error(
                    "SB118",
                    level,
                    format!("queue `{name}`: skill levels start at 1"),
                );
            }
        }
        let overflow_to_callback = match q.overflow.as_ref().map(|o| o.get_ref().as_str()) {
            None | Some("operator") => false,
            Some("callback") => true,
            Some(other) => {
                if let Some(sp) = &q.overflow {
                    c.error(
                        "SB118",
                        sp,
                        format!(
                            "queue `{name}`: overflow `{other}` is not one of operator, callback"
                        ),
                    );
                }
                false
            }
        };
        let max_waiting = q
            .max_waiting
            .as_ref()
            .map(|m| c.count(&format!("queues.{name}.max_waiting"), m));
        let max_wait = q
            .max_wait_seconds
            .as_ref()
            .map(|m| c.positive(&format!("queues.{name}.max_wait_seconds"), m));
        let agents: Vec<String> = q.agents.iter().map(|a| a.get_ref().clone()).collect();
        let levels = agents
            .iter()
            .map(|a| {
                (
                    a.clone(),
                    q.levels.get(a).map(|l| *l.get_ref()).unwrap_or(1),
                )
            })
            .collect();
        queues.push(model::Queue {
            name: name.to_string(),
            number: q.number.as_ref().map(|n| n.get_ref().clone()),
            agents,
            strategy,
            levels,
            overflow_to_callback,
            max_waiting,
            max_wait,
            survey: q.survey,
        });
    }
    for d in &raw.roster.on_duty {
        if !seen.contains_key(d.get_ref().as_str()) {
            c.error(
                "SB109",
                d,
                format!(
                    "roster.on_duty names {} which is not an extension",
                    d.get_ref()
                ),
            );
        }
    }

    if let Some(n) = &raw.roster.number {
        let v = n.get_ref();
        if !is_number(v) {
            c.error("SB109", n, format!("roster.number `{v}` must be digits"));
        } else if seen.contains_key(v.as_str()) {
            c.error(
                "SB109",
                n,
                format!("roster.number {v} is already an extension"),
            );
        } else if raw.roster.on_duty.is_empty() {
            c.error(
                "SB109",
                n,
                format!("roster.number {v} rings nobody: roster.on_duty is empty"),
            );
        }
    }

    let reports = reports(&mut c, &raw.reports);
    let holidays = holidays(&mut c, &raw.calendar);
    let callback_rules = callbacks(&mut c, &raw.callbacks, &reports, &holidays);
    let api_tokens = api_tokens(&mut c, &raw.http.tokens, &extensions);
    let console_users = console_users(&mut c, &raw.http.users, &extensions);
    let mut regions = Vec::new();
    for (prefix, name) in &raw.regions {
        if !is_number(prefix) || name.get_ref().trim().is_empty() {
            c.error(
                "SB121",
                name,
                format!("regions: `{prefix}` must be digits naming a region"),
            );
        }
        regions.push((prefix.clone(), name.get_ref().clone()));
    }
    regions.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
    let capacity = *raw.store.queue_capacity.get_ref();
    if !(1..=10_000_000).contains(&capacity) {
        c.error(
            "SB115",
            &raw.store.queue_capacity,
            "store.queue_capacity must lie between 1 and 10000000".into(),
        );
    }
    let store_path = PathBuf::from(raw.store.path.get_ref());
    let store_journal = match &raw.store.journal {
        Some(j) => PathBuf::from(j.get_ref()),
        None => {
            let mut p = store_path.clone().into_os_string();
            p.push(".journal");
            PathBuf::from(p)
        }
    };

    if !c.out.is_empty() {
        return Err(c.out);
    }
    // Every Option below is Some when no diagnostic was recorded.
    let (Some(sip_listen), Some(http_listen), Some(rtp_ports)) =
        (sip_listen, http_listen, rtp_ports)
    else {
        return Err(c.out);
    };
    Ok(Model {
        hospital_name: raw.hospital.name.get_ref().clone(),
        hospital_number: number.get_ref().clone(),
        sip_listen,
        realm: raw.sip.realm.get_ref().clone(),
        qualify_interval,
        nonce_lifetime,
        tcp_idle,
        digest_algorithms: algs.get_ref().clone(),
        t1: Duration::from_millis(t1),
        t2: Duration::from_millis(t2),
        t4: Duration::from_millis(t4),
        registrar: model::Registrar {
            default_expires: def,
            min_expires: min,
            max_expires: max,
            max_contacts: *r.max_contacts.get_ref() as usize,
        },
        security: model::Security {
            max_user_failures: *s.max_user_failures.get_ref(),
            max_address_failures: *s.max_address_failures.get_ref(),
            failure_window,
            ban,
        },
        rtp_ports,
        http_listen,
        api_tokens,
        console_users,
        metrics_token,
        metrics_listen,
        rtp_timer_spin: Duration::from_millis(spin),
        overload_lag: Duration::from_millis(lag),
        shutdown_grace: Duration::from_secs(grace),
        store_path,
        store_journal,
        store_queue_capacity: capacity as usize,
        reports,
        regions,
        dialplans_dir: PathBuf::from(ivr.dialplans.get_ref()),
        prompts_dir: PathBuf::from(ivr.prompts.get_ref()),
        languages,
        default_language: ivr.default_language.get_ref().clone(),
        clock_start,
        sla_rings: rings,
        sla_ring_cycle: Duration::from_secs(cycle.into()),
        wrap_up: Duration::from_secs(wrap_up),
        features: model::FeatureCodes {
            hold: raw.features.hold.get_ref().clone(),
            mute: raw.features.mute.get_ref().clone(),
            consult: raw.features.consult.get_ref().clone(),
            transfer: raw.features.transfer.get_ref().clone(),
            complete: raw.features.complete.get_ref().clone(),
            back: raw.features.back.get_ref().clone(),
            swap: raw.features.swap.get_ref().clone(),
            join: raw.features.join.get_ref().clone(),
            survey: raw.features.survey.get_ref().clone(),
            login: raw.features.login.get_ref().clone(),
            logout: raw.features.logout.get_ref().clone(),
            pause: raw.features.pause.get_ref().clone(),
            unpause: raw.features.unpause.get_ref().clone(),
            pause_reasons: raw
                .features
                .pause_reasons
                .get_ref()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        },
        transfer_ring: Duration::from_secs(*raw.features.transfer_ring_seconds.get_ref()),
        pause_after_misses: misses as u32,
        extensions,
        queues,
        on_duty: raw
            .roster
            .on_duty
            .iter()
            .map(|d| d.get_ref().clone())
            .collect(),
        roster_number: raw.roster.number.as_ref().map(|n| n.get_ref().clone()),
        outside,
        callbacks: callback_rules,
        holidays,
    })
}

/// The hospital's holidays (SB146).
fn holidays(c: &mut Checker, cal: &crate::raw::Calendar) -> Vec<(i32, u8, u8)> {
    let mut out = Vec::new();
    for h in &cal.holidays {
        match crate::dialplan::parse_date(h.get_ref()) {
            Some(d) => out.push(d),
            None => c.error(
                "SB146",
                h,
                format!(
                    "calendar.holidays: `{}` is not a YYYY-MM-DD date",
                    h.get_ref()
                ),
            ),
        }
    }
    out
}

/// Keep-my-place callbacks (SB145): hours as a dialplan's windows, 1 to 10 tries, 1 to
/// 1,440 minutes apart.
fn callbacks(
    c: &mut Checker,
    cb: &crate::raw::Callbacks,
    reports: &model::Reports,
    holidays: &[(i32, u8, u8)],
) -> sb_engine::CallbackRules {
    let mut windows = Vec::new();
    for w in &cb.open {
        match crate::dialplan::parse_window(w.get_ref()) {
            Some(win) => windows.push(win),
            None => c.error(
                "SB145",
                w,
                format!(
                    "callbacks.open: `{}` is not a window like `mon-fri 08:00-17:30`",
                    w.get_ref()
                ),
            ),
        }
    }
    if cb.open.is_empty() {
        windows.push((0x7F, 0, 24 * 60));
    }
    let attempts = *cb.attempts.get_ref();
    if !(1..=10).contains(&attempts) {
        c.error(
            "SB145",
            &cb.attempts,
            format!("callbacks.attempts ({attempts}) must be between 1 and 10"),
        );
    }
    let retry = *cb.retry_minutes.get_ref();
    if !(1..=1440).contains(&retry) {
        c.error(
            "SB145",
            &cb.retry_minutes,
            format!("callbacks.retry_minutes ({retry}) must be between 1 and 1440"),
        );
    }
    let offer_after = *cb.offer_after_seconds.get_ref();
    sb_engine::CallbackRules {
        hours: sb_ivr::Schedule {
            utc_offset_min: reports.utc_offset_min,
            windows,
            holidays: holidays.to_vec(),
        },
        attempts: attempts.clamp(1, 10) as u32,
        retry: Duration::from_secs(retry.clamp(1, 1440) * 60),
        offer_after: (offer_after > 0).then(|| Duration::from_secs(offer_after)),
        recover_after: cb.recover_abandoned.then_some(reports.short_abandon),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_instants() {
        assert_eq!(
            super::parse_rfc3339("2026-11-23T00:00:00+08:00"),
            Some(1_795_363_200)
        );
        assert_eq!(super::parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            super::parse_rfc3339("2026-11-22T07:00:00Z"),
            Some(1_795_330_800)
        );
        assert_eq!(super::parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(super::parse_rfc3339("tomorrow"), None);
    }
}
