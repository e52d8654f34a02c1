//! The real engine on virtual time (the sb-engine test harness): a patient goes through the
//! IVR into the consultation queue, an agent's phone rings three seconds and answers, they
//! talk, the agent hangs up. The engine's events, through the recorder and the writer, make
//! the record a person would write by hand.

use sb_engine::CallAction;
use sb_records::{Recorder, RecorderConfig};
use sb_sip_msg::{Message, Method};
use sb_store::{Store, StoreSettings};
use sb_testkit::*;

#[test]
fn an_answered_call_through_the_engine_is_recorded_as_it_happened() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    register_agent(&mut s, "1003", AGENT);
    let tag = s.call("8000", OFFER_4733).expect("answered");
    past_the_menu(&mut s);
    s.in_dialog(&tag, "INFO", 3, "application/dtmf-relay", "Signal=2\r\n");
    // The "transferring" prompt plays, then the queue offers the call.
    for _ in 0..100 {
        if invite_to_agent(&s).is_some() {
            break;
        }
        s.advance(100);
    }
    let inv = invite_to_agent(&s).expect("the agent's phone rings");
    agent_rings(&mut s, &inv);
    s.advance(3000);
    let sdp = "v=0\r\no=- 5 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7003 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    agent_answers(&mut s, &inv, sdp);
    // Thirty seconds of talk, five of them on hold and two muted (by the control API).
    let call = sb_engine::CallId(1);
    let api = sb_engine::Control::Api;
    s.advance(10_000);
    s.engine
        .call_action(s.clock.now(), call, CallAction::Hold(true), api)
        .expect("hold by the API");
    s.pump();
    s.advance(5_000);
    s.engine
        .call_action(s.clock.now(), call, CallAction::Hold(false), api)
        .expect("hold by the API");
    s.pump();
    s.advance(5_000);
    s.engine
        .call_action(s.clock.now(), call, CallAction::Mute(true), api)
        .expect("mute by the API");
    s.pump();
    s.advance(2_000);
    s.engine
        .call_action(s.clock.now(), call, CallAction::Mute(false), api)
        .expect("mute by the API");
    s.pump();
    s.advance(8_000);
    // The agent hangs up: the patient hears the satisfaction survey, keys 5, hears the
    // thanks and is hung up.
    agent_hangs_up(&mut s, &inv);
    s.advance(2_000);
    s.rfc4733(5, 90_000);
    s.advance(8_000);
    assert!(s
        .inbox
        .iter()
        .any(|m| matches!(m, Message::Request(r) if r.method == Method::Bye)));

    let dir = std::env::temp_dir().join(format!("sb-engine-records-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("records.db");
    let mut store = Store::start(StoreSettings {
        path: path.clone(),
        journal: dir.join("journal"),
        capacity: 1024,
        run: "sim".into(),
        thresholds: Default::default(),
    })
    .expect("store");
    let mut rec = Recorder::new(RecorderConfig {
        run: "sim".into(),
        regions: vec![("100".into(), "Internal".into())],
        short_abandon_ms: 5000,
        ring_cycle_ms: 5000,
        wrap_up_ms: 10_000,
    });
    for (ev, t) in s.events.iter().zip(&s.event_times) {
        rec.handle(s.engine.wall_ms(*t), ev);
        while let Some(op) = rec.poll_op() {
            store.record(op);
        }
    }
    store.end_turn();
    assert_eq!(rec.open_calls(), 0, "the call's record is complete");
    store.close().expect("close");

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    rt.block_on(async {
        use sqlx::Row;
        let mut c = sb_store::db::open(&path, sb_store::db::Access::Read)
            .await
            .expect("open");
        let r = sqlx::query("SELECT * FROM calls WHERE call_id = 'sim-1'")
            .fetch_one(&mut c)
            .await
            .expect("the call's row");
        let get = |k: &str| r.get::<Option<i64>, _>(k).expect(k);
        assert_eq!(r.get::<String, _>("disposition"), "answered");
        assert_eq!(r.get::<String, _>("dialled"), "8000");
        assert_eq!(r.get::<String, _>("caller"), "1001");
        assert_eq!(
            r.get::<Option<String>, _>("region").as_deref(),
            Some("Internal")
        );
        assert_eq!(
            r.get::<Option<String>, _>("queue").as_deref(),
            Some("consultation")
        );
        assert_eq!(r.get::<Option<String>, _>("agent").as_deref(), Some("1003"));
        assert_eq!(
            r.get::<Option<String>, _>("hangup_by").as_deref(),
            Some("agent")
        );
        assert!(
            r.get::<String, _>("ivr_path")
                .ends_with("main/menu>main/consultation-hours>main/consultation"),
            "{}",
            r.get::<String, _>("ivr_path")
        );
        let ring = get("ring_ms");
        assert!((3000..=3200).contains(&ring), "rang {ring} ms");
        assert_eq!(get("rings"), 1);
        assert_eq!(r.get::<Option<bool>, _>("within_rings"), Some(true));
        assert_eq!(get("answered_ms") - get("queued_ms"), get("wait_ms"));
        // The talk ends when the agent leaves; the patient then rates the call 5.
        let talk = get("survey_ms") - get("answered_ms");
        assert!((30_000..=30_100).contains(&talk), "talked {talk} ms");
        assert!(get("ended_ms") > get("survey_ms"));
        assert_eq!(get("survey_score"), 5);
        assert!(get("first_offer_ms") >= get("queued_ms"));
        assert!(r.get::<Option<f64>, _>("caller_loss").is_some());
        let kinds: Vec<String> =
            sqlx::query_scalar("SELECT kind FROM call_events WHERE call_id = 'sim-1' ORDER BY seq")
                .fetch_all(&mut c)
                .await
                .expect("events");
        assert_eq!((get("hold_ms"), get("mute_ms")), (5_000, 2_000));
        let want = [
            "joined",
            "offered",
            "answered",
            "bridged",
            "held",
            "resumed",
            "muted",
            "unmuted",
            "survey_offered",
            "survey_answered",
            "ended",
        ];
        let found: Vec<&str> = kinds
            .iter()
            .map(String::as_str)
            .filter(|k| want.contains(k))
            .collect();
        assert_eq!(found, want);
        let states: Vec<String> =
            sqlx::query_scalar("SELECT state FROM agent_states WHERE agent = '1003' ORDER BY seq")
                .fetch_all(&mut c)
                .await
                .expect("states");
        for st in ["available", "offered", "on_call"] {
            assert!(
                states.iter().any(|s| s == st),
                "{st} missing from {states:?}"
            );
        }
    });
}
