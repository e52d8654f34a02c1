//! The settings each crate of the switchboard takes, built from a validated [`Model`]: the
//! domain crates know nothing of the configuration file, and this is where its meaning
//! reaches them. The composition root (`sb_runtime::build`) calls these.

use crate::Model;
use sb_sip::registrar::RegistrarSettings;
use sb_sip::{EndpointConfig, TimerSettings};
use std::net::SocketAddr;

/// The SIP endpoint's settings, listening on `local_addr`.
pub fn endpoint(m: &Model, local_addr: SocketAddr) -> EndpointConfig {
    let mut cfg = EndpointConfig::new(&m.realm, local_addr);
    cfg.users = m
        .extensions
        .iter()
        .map(|e| (e.number.clone(), e.password.clone()))
        .collect();
    cfg.registrar = RegistrarSettings {
        default_expires: m.registrar.default_expires,
        min_expires: m.registrar.min_expires,
        max_expires: m.registrar.max_expires,
        max_contacts: m.registrar.max_contacts,
    };
    cfg.timers = TimerSettings {
        t1: m.t1,
        t2: m.t2,
        t4: m.t4,
    };
    cfg.qualify_interval = m.qualify_interval;
    cfg.nonce_lifetime = m.nonce_lifetime;
    cfg.guard = sb_sip::guard::GuardSettings {
        user_failures: m.security.max_user_failures,
        address_failures: m.security.max_address_failures,
        window: m.security.failure_window,
        ban: m.security.ban,
    };
    cfg.digest_algorithms = m
        .digest_algorithms
        .iter()
        .filter_map(|a| sb_sip::digest::Algorithm::parse(Some(a)))
        .collect();
    cfg.user_agent = format!("Switchboard/{}", env!("CARGO_PKG_VERSION"));
    cfg.trunks = m.outside.trunks.iter().map(|t| t.sip.clone()).collect();
    cfg
}

/// The engine's view of the phone network: numbering, trunks, dial plan, limits.
pub fn outside(m: &Model) -> sb_engine::OutsideConfig {
    let o = &m.outside;
    sb_engine::OutsideConfig {
        numbering: o.numbering.clone(),
        trunks: o.trunks.iter().map(|t| t.plan.clone()).collect(),
        rules: o.rules.clone(),
        extension_kinds: m
            .extensions
            .iter()
            .map(|e| {
                let kind = match e.kind {
                    crate::ExtensionKind::Agent => "agent",
                    crate::ExtensionKind::Operator => "operator",
                    crate::ExtensionKind::Department => "department",
                };
                (e.number.clone(), kind.to_string())
            })
            .collect(),
        per_extension: o.per_extension,
        setup_timeout: o.setup_timeout,
        ring: o.ring,
    }
}

/// The ACD's settings: the ring timer is the three-ring threshold.
pub fn acd_config(m: &Model) -> sb_acd::AcdConfig {
    let threshold = m.sla_threshold();
    sb_acd::AcdConfig {
        ring_timeout: threshold,
        sla_threshold: threshold,
        wrap_up: m.wrap_up,
        max_misses: m.pause_after_misses,
        ..sb_acd::AcdConfig::default()
    }
}

/// The ACD of the configured queues, starting at `now`: every member logged in to their
/// queues from the start, so an agent is offered calls as soon as their phone registers (the
/// demo needs no step). The operator queue takes the other queues' overflow.
pub fn acd(m: &Model, now: std::time::Instant) -> sb_acd::Acd {
    use crate::model::QueueStrategy;
    use sb_acd::{Acd, AgentId, QueueSpec, Strategy};
    let cfg = acd_config(m);
    let has_operator = m.queues.iter().any(|q| q.name == "operator");
    let queues: Vec<QueueSpec> = m
        .queues
        .iter()
        .map(|q| QueueSpec {
            name: q.name.clone(),
            strategy: match q.strategy {
                QueueStrategy::LongestIdle => Strategy::LongestIdle,
                QueueStrategy::RoundRobin => Strategy::RoundRobin,
                QueueStrategy::RingAll => Strategy::RingAll,
                QueueStrategy::FewestCalls => Strategy::FewestCalls,
                QueueStrategy::Skills { widen } => Strategy::Skills { widen_every: widen },
            },
            members: q
                .levels
                .iter()
                .map(|(a, level)| (AgentId(a.clone()), *level))
                .collect(),
            // To the operators unless the queue offers callbacks; the operators' own
            // overflow always offers one.
            overflow_to: (has_operator && q.name != "operator" && !q.overflow_to_callback)
                .then(|| "operator".to_string()),
            limits: (q.max_waiting.is_some() || q.max_wait.is_some()).then(|| {
                (
                    q.max_waiting.unwrap_or(cfg.max_waiting),
                    q.max_wait.unwrap_or(cfg.max_wait),
                )
            }),
        })
        .collect();
    let mut acd = Acd::new(cfg, queues, now);
    for q in &m.queues {
        for a in &q.agents {
            acd.handle_login(now, &AgentId(a.clone()), &[q.name.as_str()]);
        }
    }
    while acd.poll_event().is_some() {}
    acd
}

/// What the web consoles need: their users, the directory for their pickers, the queues,
/// the three-ring threshold.
pub fn console_settings(m: &Model) -> sb_api::console::ConsoleSettings {
    use crate::model::ExtensionKind;
    sb_api::console::ConsoleSettings {
        users: m.console_users.clone(),
        sessions: sb_api::session::SessionLimits::default(),
        directory: m
            .extensions
            .iter()
            .map(|e| sb_api::console::DirectoryEntry {
                number: e.number.clone(),
                name: e.name.clone(),
                kind: match e.kind {
                    ExtensionKind::Agent => "agent",
                    ExtensionKind::Operator => "operator",
                    ExtensionKind::Department => "department",
                },
                on_duty: m.on_duty.contains(&e.number),
            })
            .collect(),
        queues: m.queues.iter().map(|q| q.name.clone()).collect(),
        sla: m.sla_threshold(),
        ring_cycle: m.sla_ring_cycle,
    }
}

/// How the reports count: the zone, the short-abandon and answer thresholds, the shifts.
pub fn report_settings(m: &Model) -> sb_store::report::ReportSettings {
    sb_store::report::ReportSettings {
        utc_offset_min: m.reports.utc_offset_min,
        short_abandon_ms: m.reports.short_abandon.as_millis() as i64,
        sla_ms: m.sla_threshold().as_millis() as i64,
        shifts: m
            .reports
            .shifts
            .iter()
            .map(|s| (s.name.clone(), s.start, s.end))
            .collect(),
    }
}

/// What the recorder needs for the records of engine run `run`.
pub fn recorder(m: &Model, run: &str) -> sb_records::RecorderConfig {
    sb_records::RecorderConfig {
        run: run.to_string(),
        regions: m.regions.clone(),
        short_abandon_ms: m.reports.short_abandon.as_millis() as i64,
        ring_cycle_ms: m.sla_ring_cycle.as_millis() as i64,
        wrap_up_ms: acd_config(m).wrap_up.as_millis() as i64,
    }
}
