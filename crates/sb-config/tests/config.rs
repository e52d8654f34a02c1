use sb_config::{load, Source};

/// 1-based line of the first line of the shipped config containing `needle`.
fn line_of(needle: &str) -> usize {
    shipped()
        .text
        .lines()
        .position(|l| l.contains(needle))
        .expect("line exists")
        + 1
}

fn shipped() -> Source {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/switchboard.toml");
    Source {
        name: "config/switchboard.toml".into(),
        text: std::fs::read_to_string(path).expect("shipped config"),
    }
}

#[test]
fn the_shipped_demo_config_is_valid() {
    let m = load(shipped(), &[]).expect("valid");
    assert_eq!(m.hospital_number, "8000");
    let agents: Vec<&str> = m
        .extensions
        .iter()
        .filter(|e| e.number.starts_with("100"))
        .map(|e| e.number.as_str())
        .collect();
    assert_eq!(agents, ["1001", "1002", "1003", "1004", "1005", "1006"]);
    assert!(m.extensions.iter().any(|e| e.number.starts_with('2')));
    assert_eq!(m.sla_threshold().as_secs(), 15);
    assert!(m.demo_credentials().contains(&"1001"));
    assert_eq!(m.extensions[0].password, "demo-1001");
}

#[test]
fn set_overrides_keys_by_dotted_path() {
    let sets = [
        "sip.listen=127.0.0.1:5099",
        "rtp.port_range=30000-30100",
        "http.listen=127.0.0.1:0",
        "store.path=/tmp/x.db",
        "sla.rings=4",
    ]
    .map(String::from);
    let m = load(shipped(), &sets).expect("valid");
    assert_eq!(m.sip_listen.port(), 5099);
    assert_eq!(m.rtp_ports, 30000..=30100);
    assert_eq!(m.store_path.to_str(), Some("/tmp/x.db"));
    assert_eq!(m.sla_rings, 4);
    let bad = load(shipped(), &["sip.listen=nowhere".into()]).expect_err("bad address");
    assert_eq!(bad[0].code, "SB101");
    assert_eq!(
        bad[0].line,
        line_of("listen = \"127.0.0.1:5060\""),
        "an overridden value keeps its line"
    );
    assert_eq!(
        load(shipped(), &["nonsense".into()]).expect_err("not KEY=VALUE")[0].code,
        "SB002"
    );
}

#[test]
fn three_mistakes_are_all_reported_with_lines() {
    let text = shipped()
        .text
        .replace(
            "listen = \"127.0.0.1:5060\"",
            "listen = \"127.0.0.1:99999\"",
        )
        .replace("number = \"2002\"", "number = \"2001\"")
        .replace(
            "agents = [\"1005\", \"1006\"]",
            "agents = [\"1005\", \"1007\"]",
        );
    let errs = load(
        Source {
            name: "bad.toml".into(),
            text: text.clone(),
        },
        &[],
    )
    .expect_err("three mistakes");
    let codes: Vec<&str> = errs.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["SB101", "SB103", "SB108"], "{errs:?}");
    for d in &errs {
        assert!(d.line > 0);
        let line = text.lines().nth(d.line - 1).expect("line exists");
        assert!(
            line.contains("99999") || line.contains("2001") || line.contains("1007"),
            "{d}: {line}"
        );
        assert!(d
            .to_string()
            .starts_with(&format!("bad.toml:{}: error[{}]", d.line, d.code)));
    }
}

#[test]
fn queue_strategies_and_skill_levels() {
    let m = load(shipped(), &[]).expect("valid");
    let consultation = m
        .queues
        .iter()
        .find(|q| q.name == "consultation")
        .expect("queue");
    assert!(
        matches!(consultation.strategy, sb_config::model::QueueStrategy::Skills { widen } if widen.as_secs() == 20)
    );
    assert_eq!(consultation.levels[2], ("1005".to_string(), 2));
    let text = shipped()
        .text
        .replace("strategy = \"round-robin\"", "strategy = \"random\"")
        .replace("\"1006\" = 2 }", "\"1006\" = 2, \"1001\" = 1 }");
    let errs = load(
        Source {
            name: "q.toml".into(),
            text,
        },
        &[],
    )
    .expect_err("two mistakes");
    assert_eq!(
        errs.iter().filter(|d| d.code == "SB118").count(),
        2,
        "{errs:?}"
    );
}

#[test]
fn unknown_keys_and_bad_types_are_rejected_at_parse() {
    let text = shipped().text.replace(
        "realm = \"switchboard\"",
        "realm = \"switchboard\"\nrelam = \"typo\"",
    );
    let errs = load(
        Source {
            name: "typo.toml".into(),
            text,
        },
        &[],
    )
    .expect_err("unknown key");
    assert_eq!(errs[0].code, "SB001");
    assert!(errs[0].message.contains("relam"), "{}", errs[0].message);
    assert_eq!(errs[0].line, line_of("realm = \"switchboard\"") + 1);
    let errs = load(
        Source {
            name: "t.toml".into(),
            text: "[[[".into(),
        },
        &[],
    )
    .expect_err("syntax");
    assert_eq!(errs[0].code, "SB001");
}

#[test]
fn every_unknown_key_is_reported_at_once_with_a_suggestion_and_meaning_still_checked() {
    let text = shipped()
        .text
        .replace("realm = \"switchboard\"", "relam = \"switchboard\"")
        .replacen("wrap_up_seconds = 10", "wrap_up_secs = 10", 1)
        .replacen("[security]", "[security]\nban_for_ever = true", 1)
        .replacen(
            "port_range = \"10000-20000\"",
            "port_range = \"20000-10000\"",
            1,
        );
    let errs = load(
        Source {
            name: "typos.toml".into(),
            text: text.clone(),
        },
        &[],
    )
    .expect_err("three unknown keys");
    let shape: Vec<_> = errs.iter().filter(|d| d.code == "SB001").collect();
    assert_eq!(shape.len(), 3, "{errs:#?}");
    let line = |needle: &str| text.lines().position(|l| l.contains(needle)).expect("line") + 1;
    assert_eq!(shape[0].line, line("relam = "));
    assert!(
        shape[0].message.contains("did you mean `realm`"),
        "{}",
        shape[0].message
    );
    assert!(shape
        .iter()
        .any(|d| d.line == line("wrap_up_secs")
            && d.message.contains("did you mean `wrap_up_seconds`")));
    assert!(shape
        .iter()
        .any(|d| d.line == line("ban_for_ever") && !d.message.contains("did you mean")));
    // The bad port range in the same file is reported in the same run.
    assert!(errs.iter().any(|d| d.code == "SB102"), "{errs:#?}");
}

#[test]
fn reports_regions_and_api_tokens_are_checked() {
    let m = load(shipped(), &[]).expect("valid");
    assert_eq!(m.reports.utc_offset_min, 480);
    assert_eq!(m.reports.shifts.len(), 3);
    assert_eq!(m.region_of("075512345678"), Some("Shenzhen"));
    assert_eq!(m.region_of("01012345678"), Some("Beijing"));
    assert_eq!(m.region_of("99"), None);
    assert_eq!(m.store_journal.to_str(), Some("switchboard.db.journal"));
    assert!(m
        .api_tokens
        .iter()
        .any(|t| t.agent.as_deref() == Some("1001")));

    let mut text = shipped().text;
    text.push_str(
        "\n[[http.tokens]]\ntoken = \"short\"\nrole = \"supervisor\"\n\n[[http.tokens]]\ntoken = \"long-enough-token-xyz\"\nrole = \"janitor\"\n\n[[http.tokens]]\ntoken = \"another-long-token-xyz\"\nrole = \"agent\"\nagent = \"4242\"\n",
    );
    let text = text
        .replace(
            "time_zone = \"Asia/Shanghai\"",
            "time_zone = \"Mars/Olympus\"",
        )
        .replace("hours = \"10:00-18:00\"", "hours = \"10:10-18:00\"")
        .replace("\"0769\" = \"Dongguan\"", "\"07x9\" = \"Dongguan\"");
    let errs = load(
        Source {
            name: "bad.toml".into(),
            text,
        },
        &[],
    )
    .expect_err("invalid");
    let codes: Vec<&str> = errs.iter().map(|d| d.code).collect();
    assert_eq!(
        codes.iter().filter(|c| **c == "SB122").count(),
        3,
        "{errs:#?}"
    );
    for code in ["SB119", "SB120", "SB121"] {
        assert!(codes.contains(&code), "{code} missing: {errs:#?}");
    }
    assert!(errs.iter().all(|d| d.line > 0), "{errs:#?}");
}

#[test]
fn a_queue_may_offer_callbacks_instead_of_the_operators() {
    let text = shipped().text.replace(
        "name = \"complaints\"\nnumber = \"6003\"\nagents = [\"1005\", \"1006\"]",
        "name = \"complaints\"\nnumber = \"6003\"\nagents = [\"1005\", \"1006\"]\noverflow = \"callback\"",
    );
    let m = load(
        Source {
            name: "c.toml".into(),
            text: text.clone(),
        },
        &[],
    )
    .expect("valid");
    let q = |n: &str| m.queues.iter().find(|q| q.name == n).expect(n);
    assert!(q("complaints").overflow_to_callback);
    assert!(!q("consultation").overflow_to_callback);
    let bad = text.replace("overflow = \"callback\"", "overflow = \"voicemail\"");
    let errs = load(
        Source {
            name: "c.toml".into(),
            text: bad,
        },
        &[],
    )
    .expect_err("invalid");
    assert!(errs
        .iter()
        .any(|d| d.code == "SB118" && d.message.contains("voicemail")));
}

#[test]
fn wrap_up_and_auto_pause_are_configured_and_checked() {
    let m = load(shipped(), &[]).expect("valid");
    assert_eq!(m.wrap_up.as_secs(), 10);
    assert_eq!(m.pause_after_misses, 2);
    let m = load(
        shipped(),
        &[
            "acd.wrap_up_seconds=0".into(),
            "acd.pause_after_misses=5".into(),
        ],
    )
    .expect("valid");
    assert!(m.wrap_up.is_zero());
    assert_eq!(m.pause_after_misses, 5);
    let errs = load(
        shipped(),
        &[
            "acd.wrap_up_seconds=3600".into(),
            "acd.pause_after_misses=0".into(),
        ],
    )
    .expect_err("out of range");
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs.iter().all(|d| d.code == "SB112"));
    assert_eq!(errs[0].line, line_of("wrap_up_seconds = 10"));
    assert_eq!(errs[1].line, line_of("pause_after_misses = 2"));
}

#[test]
fn the_overload_threshold_is_configured_and_checked() {
    let m = load(shipped(), &[]).expect("valid");
    assert_eq!(m.overload_lag.as_millis(), 100);
    let off = load(shipped(), &["sip.overload_lag_ms=0".into()]).expect("0 is off");
    assert!(off.overload_lag.is_zero());
    let errs = load(shipped(), &["sip.overload_lag_ms=5".into()]).expect_err("too small");
    assert_eq!(errs[0].code, "SB112");
    assert_eq!(errs[0].line, line_of("overload_lag_ms = 100"));
}

#[test]
fn feature_codes_are_configured_and_checked() {
    let m = load(shipped(), &[]).expect("valid");
    assert_eq!(m.features, sb_config::model::FeatureCodes::default());
    assert_eq!(m.features.consult, "*3");
    assert_eq!(m.features.complete, "#");
    assert_eq!(m.transfer_ring.as_secs(), 20);
    let m = load(
        shipped(),
        &[
            "features.hold=\"*77\"".into(),
            "features.mute=\"*88\"".into(),
        ],
    )
    .expect("valid");
    assert_eq!(m.features.hold, "*77");
    let errs = load(
        shipped(),
        &[
            "features.hold=\"1\"".into(),
            "features.mute=\"*12345\"".into(),
        ],
    )
    .expect_err("bad codes");
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs.iter().all(|d| d.code == "SB123"));
    assert_eq!(errs[0].line, line_of("hold = \"*1\""));
    let errs = load(shipped(), &["features.mute=\"*1\"".into()]).expect_err("same code");
    assert!(
        errs[0].message.contains("clashes with features.hold"),
        "{errs:#?}"
    );
    // One code may not begin another: the phone sends keys one at a time.
    let errs = load(shipped(), &["features.swap=\"*11\"".into()]).expect_err("prefix");
    assert!(
        errs[0].message.contains("must not begin another"),
        "{errs:#?}"
    );
    let errs = load(shipped(), &["features.back=\"#\"".into()]).expect_err("only complete is #");
    assert_eq!(errs[0].code, "SB123");
    let errs = load(shipped(), &["features.transfer_ring_seconds=2".into()]).expect_err("short");
    assert_eq!(errs[0].code, "SB112");
    // Queue numbers: digits, and no other number's.
    assert_eq!(
        m.queue_numbers()[0],
        ("6001".to_string(), "appointments".to_string())
    );
    for (bad, says, at) in [
        ("number = \"1003\"", "is an extension", "number = \"6001\""),
        // Told where the number comes the second time.
        (
            "number = \"6002\"",
            "is queue `appointments`'s number too",
            "number = \"6002\"",
        ),
        ("number = \"x1\"", "must be digits", "number = \"6001\""),
    ] {
        let mut src = shipped();
        src.text = src.text.replace("number = \"6001\"", bad);
        let errs = load(src, &[]).expect_err(bad);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!(errs[0].code, "SB124");
        assert!(errs[0].message.contains(says), "{errs:#?}");
        assert_eq!(errs[0].line, line_of(at));
    }
    // The on-duty number: digits, not an extension, and someone on the roster.
    assert_eq!(m.roster_number.as_deref(), Some("2000"));
    for (bad, says) in [
        ("roster.number=\"1001\"", "already an extension"),
        ("roster.number=\"on-duty\"", "must be digits"),
    ] {
        let errs = load(shipped(), &[bad.into()]).expect_err(bad);
        assert!(errs[0].message.contains(says), "{errs:#?}");
    }
    let errs = load(
        shipped(),
        &["roster.on_duty=[]".into(), "roster.number=\"2999\"".into()],
    )
    .expect_err("empty roster");
    assert!(errs[0].message.contains("rings nobody"), "{errs:#?}");
    // Service codes dialled outside calls, and the pause reasons.
    assert_eq!(m.features.pause, "*73");
    assert!(m
        .features
        .pause_reasons
        .contains(&("3".to_string(), "meeting".to_string())));
    let errs = load(shipped(), &["features.logout=\"*711\"".into()]).expect_err("prefix");
    assert!(errs[0].message.contains("features.login"), "{errs:#?}");
    let errs = load(
        shipped(),
        &["features.pause_reasons={ \"x\" = \"break\", \"5\" = \" \" }".into()],
    )
    .expect_err("bad reasons");
    assert_eq!(errs.len(), 2, "{errs:#?}");
}

#[test]
fn console_users_are_checked_and_their_hashes_must_be_argon2id() {
    let hash = sb_api::users::hash_password("a good pass phrase").expect("hash");
    let mut text = shipped().text;
    text.push_str(&format!(
        "\n[[http.users]]\nname = \"wang\"\npassword_hash = \"{hash}\"\nrole = \"agent\"\nagent = \"1003\"\n\n[[http.users]]\nname = \"li\"\npassword_hash = \"{hash}\"\nrole = \"supervisor\"\nlanguage = \"en\"\n"
    ));
    let m = load(
        Source {
            name: "users.toml".into(),
            text: text.clone(),
        },
        &[],
    )
    .expect("valid");
    let shipped_users = load(shipped(), &[]).expect("shipped").console_users.len();
    assert_eq!(m.console_users.len(), shipped_users + 2);
    let user = |name: &str| {
        m.console_users
            .iter()
            .find(|u| u.name == name)
            .expect("user")
    };
    let wang = user("wang");
    assert_eq!(wang.agent.as_deref(), Some("1003"));
    assert!(wang.verify("a good pass phrase"));
    assert!(!wang.verify("a bad pass phrase"));
    assert_eq!(user("li").language, sb_api::users::Language::English);
    // The shipped demo users sign in with `demo-` and their name.
    assert!(user("supervisor").verify("demo-supervisor"));
    assert!(user("agent1001").verify("demo-agent1001"));

    // A plain password, a repeated name, an agent without an extension, an unknown
    // extension, an unknown role, an unknown language: six mistakes, each with its line.
    text.push_str(&format!(
        "\n[[http.users]]\nname = \"zhao\"\npassword_hash = \"hunter2hunter2\"\nrole = \"operator\"\n\n[[http.users]]\nname = \"wang\"\npassword_hash = \"{hash}\"\nrole = \"operator\"\n\n[[http.users]]\nname = \"chen\"\npassword_hash = \"{hash}\"\nrole = \"agent\"\n\n[[http.users]]\nname = \"sun\"\npassword_hash = \"{hash}\"\nrole = \"agent\"\nagent = \"4242\"\n\n[[http.users]]\nname = \"zhou\"\npassword_hash = \"{hash}\"\nrole = \"janitor\"\n\n[[http.users]]\nname = \"wu\"\npassword_hash = \"{hash}\"\nrole = \"operator\"\nlanguage = \"fr\"\n"
    ));
    let errs = load(
        Source {
            name: "bad-users.toml".into(),
            text,
        },
        &[],
    )
    .expect_err("invalid");
    let ours: Vec<_> = errs.iter().filter(|d| d.code == "SB143").collect();
    assert_eq!(ours.len(), 6, "{errs:#?}");
    assert!(ours.iter().all(|d| d.line > 0), "{errs:#?}");
    assert!(
        ours.iter()
            .any(|d| d.message.contains("not a PHC password hash")),
        "{errs:#?}"
    );
}

#[test]
fn the_metrics_token_and_address_are_checked() {
    let m = load(
        shipped(),
        &[
            "http.metrics_token=\"a-long-enough-token\"".into(),
            "http.metrics_listen=\"127.0.0.1:9464\"".into(),
        ],
    )
    .expect("valid");
    assert_eq!(m.metrics_token.as_deref(), Some("a-long-enough-token"));
    assert_eq!(
        m.metrics_listen,
        Some("127.0.0.1:9464".parse().expect("addr"))
    );
    let errs = load(
        shipped(),
        &[
            "http.metrics_token=\"short\"".into(),
            "http.metrics_listen=\"nowhere\"".into(),
        ],
    )
    .expect_err("both wrong");
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs.iter().any(|e| e.code == "SB144"), "{errs:#?}");
    assert!(
        errs.iter()
            .any(|e| e.message.contains("http.metrics_listen")),
        "{errs:#?}"
    );
}
