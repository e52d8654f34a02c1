//! The hospital's shipped flows in `dialplans/` are valid against the shipped configuration
//! and prompts, and route as the service regulations say.

use sb_config::dialplan::{load, Context};
use sb_config::Source;
use sb_ivr::{Action, Input, Session};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shipped() -> sb_ivr::Dialplans {
    let text = std::fs::read_to_string(root().join("config/switchboard.toml")).expect("config");
    let model = sb_config::load(
        Source {
            name: "switchboard.toml".into(),
            text,
        },
        &[],
    )
    .expect("valid config");
    let mut sources = Vec::new();
    for e in std::fs::read_dir(root().join("dialplans")).expect("dialplans dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "toml") {
            sources.push(Source {
                name: p.display().to_string(),
                text: std::fs::read_to_string(&p).expect("read"),
            });
        }
    }
    let queues: Vec<String> = model.queues.iter().map(|q| q.name.clone()).collect();
    let exts = model.transfer_targets();
    let langs = ["zh-CN".to_string(), "yue".to_string(), "en".to_string()];
    let exists = |lang: &str, name: &str| {
        root()
            .join("prompts")
            .join(lang)
            .join(format!("{name}.wav"))
            .is_file()
    };
    load(
        &sources,
        &Context {
            queues: &queues,
            extensions: &exts,
            languages: &langs,
            prompt_exists: &exists,
        },
    )
    .unwrap_or_else(|e| panic!("shipped dialplans invalid: {e:#?}"))
}

/// 2026-11-23 is a Monday; 1_795_363_200 is its midnight in Shanghai.
fn monday_at(h: i64, m: i64) -> i64 {
    1_795_363_200 + h * 3600 + m * 60
}

fn run(number: &str, wall: i64, keys: &str) -> (Vec<Action>, Vec<String>) {
    let p = shipped();
    let mut s = Session::new(
        std::sync::Arc::new(p.clone()),
        p.entry(number).expect("number routed"),
        "zh-CN",
    );
    let t = sb_sim::Clock::new().now();
    let mut all = s.start(wall);
    all.extend(s.handle(t, wall, Input::PromptDone));
    for k in keys.chars() {
        all.extend(s.handle(t, wall, Input::Digit(k)));
    }
    for _ in 0..4 {
        all.extend(s.handle(t, wall, Input::PromptDone));
    }
    (all, s.path.clone())
}

fn outcome(a: &[Action]) -> Option<&Action> {
    a.iter()
        .rev()
        .find(|a| matches!(a, Action::Queue(_) | Action::Transfer(_) | Action::Hangup))
}

#[test]
fn main_line_routes_by_service_and_hours() {
    let (a, _) = run("8000", monday_at(10, 0), "2");
    assert_eq!(outcome(&a), Some(&Action::Queue("consultation".into())));
    let (a, path) = run("8000", monday_at(21, 0), "2");
    assert_eq!(
        outcome(&a),
        Some(&Action::Transfer("2000".into())),
        "after hours: the on-duty line"
    );
    assert!(path.contains(&"main/consultation-closed".to_string()));
    let (a, _) = run("8000", monday_at(12, 30), "1");
    assert_eq!(
        outcome(&a),
        Some(&Action::Transfer("2000".into())),
        "appointments close at lunch"
    );
    let (a, _) = run("8000", monday_at(9, 0), "1");
    assert_eq!(outcome(&a), Some(&Action::Queue("appointments".into())));
    let (a, _) = run("8000", monday_at(9, 0), "3");
    assert_eq!(outcome(&a), Some(&Action::Queue("complaints".into())));
    let (a, _) = run("8000", monday_at(9, 0), "0");
    assert_eq!(outcome(&a), Some(&Action::Queue("operator".into())));
}

#[test]
fn greeting_first_and_language_choice() {
    let (a, _) = run("8000", monday_at(10, 0), "");
    let Some(Action::Play(first)) = a.iter().find(|a| matches!(a, Action::Play(_))) else {
        panic!("plays")
    };
    assert_eq!(
        (first[0].language.as_str(), first[0].name.as_str()),
        ("zh-CN", "greeting")
    );
    let (a, _) = run("8000", monday_at(10, 0), "8");
    let plays: Vec<_> = a
        .iter()
        .filter_map(|a| match a {
            Action::Play(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(plays.last().expect("menu again")[0].language, "yue");
}

#[test]
fn advertising_numbers_tag_the_media_source() {
    for (num, source) in [("8001", "network"), ("8002", "magazine"), ("8003", "other")] {
        let (a, path) = run(num, monday_at(10, 0), "2");
        assert!(
            a.contains(&Action::Set {
                var: "media_source".into(),
                value: source.into()
            }),
            "{num}"
        );
        assert_eq!(
            outcome(&a),
            Some(&Action::Queue("consultation".into())),
            "{num} joins the main flow"
        );
        assert_eq!(path[2], "main/greeting");
    }
}
