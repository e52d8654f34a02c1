//! A call driven alone, without the router: its inputs by hand, its outputs read back.

use super::leg::LegId;
use super::*;
use crate::assets::Assets;
use sb_acd::{Acd, AcdConfig};
use sb_ivr::Dialplans;
use sb_media::negotiate::Codec;
use sb_sip::{EndpointConfig, Peer};
use sb_sip_msg::{parse_datagram, Message};
use std::collections::HashMap;
use std::time::Duration;

struct World {
    cfg: EngineConfig,
    assets: Assets,
    sip: Endpoint,
    acd: Acd,
    now: Instant,
}

impl World {
    fn new() -> World {
        let now = sb_sim::Clock::new().now();
        World {
            cfg: EngineConfig {
                media_ip: "127.0.0.1".parse().expect("ip"),
                default_language: "zh-CN".into(),
                codecs: vec![Codec::Pcmu],
                origin: now,
                wall_at_origin: 1_795_399_200,
                overload_lag: Duration::ZERO,
                features: features::FeatureCodes::default(),
                transfer_ring: Duration::from_secs(20),
                roster: Vec::new(),
                roster_number: None,
                queue_numbers: Vec::new(),
                outside: crate::config::OutsideConfig::default(),
                callbacks: crate::config::CallbackRules::default(),
                survey_queues: Vec::new(),
            },
            assets: Assets {
                plans: Arc::new(Dialplans {
                    flows: Vec::new(),
                    by_number: HashMap::new(),
                }),
                prompts: HashMap::new(),
            },
            sip: Endpoint::new(
                EndpointConfig::new("switchboard", "127.0.0.1:5060".parse().expect("addr")),
                [7; 32],
                now,
            ),
            acd: Acd::new(AcdConfig::default(), Vec::new(), now),
            now,
        }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            cfg: &self.cfg,
            assets: &self.assets,
            sip: &self.sip,
            acd: &self.acd,
            seed: 1,
        }
    }
}

/// A call from extension 1001 to extension `callee`.
fn internal_call(callee: &str) -> Call {
    Call::new(
        NewCall {
            id: CallId(1),
            caller: "1001".into(),
            dialled: callee.into(),
            sip_call_id: "c1".into(),
            tx: TxId(10),
            source: Peer::udp("127.0.0.1:6001".parse().expect("addr")),
            offer: None,
            ivr: None,
            callee: Some(super::Callee::Extension(callee.into())),
            outside: None,
            trunk_in: None,
            service: None,
            tick_phase: 0,
        },
        "zh-CN",
    )
}

fn outputs(c: &mut Call) -> Vec<Output> {
    std::iter::from_fn(|| c.poll_output()).collect()
}

#[test]
fn a_call_starts_with_trying_an_event_and_a_port_for_its_caller() {
    let mut c = internal_call("1002");
    let out = outputs(&mut c);
    assert!(matches!(&out[0], Output::Respond { tx: TxId(10), reply } if reply.status == 100));
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(EngineEvent::CallStarted {
            direction: CallDirection::Internal,
            ..
        })
    )));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Acd(AcdInput::OtherCall { busy: true, .. }))));
    assert!(matches!(
        out.last(),
        Some(Output::OpenPort { leg: LegId::CALLER })
    ));
    assert!(c.is_waiting_for_answer());
}

#[test]
fn a_call_to_an_extension_with_no_phone_ends_with_480_and_forgets_its_port() {
    let w = World::new();
    let mut c = internal_call("1002");
    outputs(&mut c);
    c.on_port(w.now, &w.ctx(), LegId::CALLER, Some(20_002));
    let out = outputs(&mut c);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Respond { tx: TxId(10), reply } if reply.status == 480)),
        "{out:?}"
    );
    assert!(out.iter().any(|o| matches!(
        o,
        Output::LegGone {
            port: Some(20_002),
            ..
        }
    )));
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(EngineEvent::CallEnded {
            reason: EndReason::ExtensionNotRegistered,
            by: Side::Engine,
            ..
        })
    )));
    assert!(matches!(out.last(), Some(Output::Ended)));
}

#[test]
fn a_caller_who_hangs_up_ends_the_call_once() {
    let w = World::new();
    let mut c = internal_call("1002");
    outputs(&mut c);
    let bye = "BYE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKb1\r\nFrom: <sip:1001@127.0.0.1>;tag=a\r\nTo: <sip:1002@127.0.0.1>;tag=b\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    let Ok(Some(Message::Request(req))) = parse_datagram(bye.as_bytes()) else {
        panic!("a BYE");
    };
    for _ in 0..2 {
        c.handle_sip(
            w.now,
            &w.ctx(),
            SipInput::Request {
                leg: LegId::CALLER,
                tx: Some(TxId(11)),
                req: &req,
            },
        );
    }
    let out = outputs(&mut c);
    let ended = out
        .iter()
        .filter(|o| matches!(o, Output::Event(EngineEvent::CallEnded { .. })))
        .count();
    assert_eq!(ended, 1, "{out:?}");
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(EngineEvent::CallEnded {
            reason: EndReason::CallerHungUp,
            by: Side::Caller,
            ..
        })
    )));
    assert!(c.poll_timeout().is_none(), "nothing left to wake it");
}
