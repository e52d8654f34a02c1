//! The interpreter, node kind by node kind, on virtual time.

use sb_config::dialplan::{load, Context};
use sb_config::Source;
use sb_ivr::{Action, Dialplans, Input, Session};
use sb_sim::Clock;
use std::time::Duration;

/// 2026-11-23 (a Monday) 10:00 in Shanghai.
const MONDAY_10: i64 = 1_795_399_200;
const HOUR: i64 = 3600;

const MAIN: &str = r##"
[flow]
name = "main"
numbers = ["8000"]
start = "greet"

[[node]]
id = "greet"
kind = "play"
prompts = ["greeting"]
next = "menu"

[[node]]
id = "menu"
kind = "menu"
prompts = ["menu"]
choices = { "1" = "hours", "2" = "id", "0" = "operator", "99" = "secret", "9" = "english" }
timeout_ms = 4000
inter_digit_ms = 1500
retries = 1
invalid_prompts = ["invalid"]
timeout_prompts = ["no-input"]
on_failure = "operator"

[[node]]
id = "english"
kind = "set"
var = "language"
value = "en"
next = "menu"

[[node]]
id = "hours"
kind = "time"
open = ["mon-fri 08:00-12:00", "mon-fri 14:00-17:30"]
holidays = ["2026-12-25"]
when_open = "appointments"
when_closed = "closed"

[[node]]
id = "appointments"
kind = "queue"
queue = "appointments"
prompts = ["hold"]

[[node]]
id = "closed"
kind = "hangup"
prompts = ["after-hours", "closing"]

[[node]]
id = "id"
kind = "collect"
prompts = ["enter-id"]
var = "patient_id"
min_len = 4
max_len = 8
terminator = "#"
next = "operator"
on_failure = "closed"

[[node]]
id = "operator"
kind = "transfer"
extension = "1100"

[[node]]
id = "secret"
kind = "goto"
flow = "ads"
"##;

const ADS: &str = r##"
[flow]
name = "ads"
numbers = ["8001"]
start = "tag"

[[node]]
id = "tag"
kind = "set"
var = "media_source"
value = "network"
next = "main"

[[node]]
id = "main"
kind = "goto"
flow = "main"
"##;

fn plans(main: &str) -> Result<Dialplans, Vec<sb_config::Diagnostic>> {
    let sources = [
        Source {
            name: "main.toml".into(),
            text: main.into(),
        },
        Source {
            name: "ads.toml".into(),
            text: ADS.into(),
        },
    ];
    let queues = ["appointments".to_string()];
    let exts = ["1100".to_string()];
    let langs = ["zh-CN".to_string(), "en".to_string()];
    let known = [
        "greeting",
        "menu",
        "invalid",
        "no-input",
        "hold",
        "after-hours",
        "closing",
        "enter-id",
    ];
    let exists = |_: &str, name: &str| known.contains(&name);
    load(
        &sources,
        &Context {
            queues: &queues,
            extensions: &exts,
            languages: &langs,
            prompt_exists: &exists,
        },
    )
}

fn played(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Play(p) => Some(
                p.iter()
                    .map(|p| format!("{}/{}", p.language, p.name))
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}

fn last(actions: &[Action]) -> Option<&Action> {
    actions
        .iter()
        .rev()
        .find(|a| !matches!(a, Action::Entered(_)))
}

struct Call {
    s: Session,
    clock: Clock,
    wall: i64,
}

impl Call {
    fn new(p: &Dialplans, number: &str, wall: i64) -> (Call, Vec<Action>) {
        let clock = Clock::new();
        let mut s = Session::new(
            std::sync::Arc::new(p.clone()),
            p.entry(number).expect("number has a flow"),
            "zh-CN",
        );
        let a = s.start(wall);
        (Call { s, clock, wall }, a)
    }
    fn input(&mut self, i: Input) -> Vec<Action> {
        self.s.handle(self.clock.now(), self.wall, i)
    }
    fn digits(&mut self, ds: &str) -> Vec<Action> {
        ds.chars()
            .flat_map(|d| self.input(Input::Digit(d)))
            .collect()
    }
    fn wait(&mut self, ms: u64) -> Vec<Action> {
        self.clock.advance(Duration::from_millis(ms));
        self.s.handle_timeout(self.clock.now(), self.wall)
    }
}

#[test]
fn play_then_menu_choice_in_open_hours_reaches_the_queue() {
    let p = plans(MAIN).expect("valid");
    let (mut c, a) = Call::new(&p, "8000", MONDAY_10);
    assert_eq!(played(&a), ["zh-CN/greeting"]);
    assert_eq!(played(&c.input(Input::PromptDone)), ["zh-CN/menu"]);
    let a = c.digits("1");
    assert_eq!(played(&a), ["zh-CN/hold"], "open on Monday 10:00");
    // Queued at once, while the queue's prompt plays.
    assert_eq!(last(&a), Some(&Action::Queue("appointments".into())));
    assert!(c.s.is_done());
    assert_eq!(c.input(Input::PromptDone), []);
    assert_eq!(
        c.s.path,
        ["main/greet", "main/menu", "main/hours", "main/appointments"]
    );
}

#[test]
fn time_condition_closed_hours_weekend_and_holiday() {
    let p = plans(MAIN).expect("valid");
    for wall in [
        MONDAY_10 + 3 * HOUR,
        MONDAY_10 + 9 * HOUR,
        MONDAY_10 - 2 * 24 * HOUR,
        1_798_164_000, /* 2026-12-25 10:00 */
    ] {
        let (mut c, _) = Call::new(&p, "8000", wall);
        c.input(Input::PromptDone);
        let a = c.digits("1");
        assert_eq!(
            played(&a),
            ["zh-CN/after-hours", "zh-CN/closing"],
            "closed at {wall}"
        );
        assert_eq!(last(&c.input(Input::PromptDone)), Some(&Action::Hangup));
    }
    // 17:29 is open, 17:30 is closed.
    let (mut c, _) = Call::new(&p, "8000", MONDAY_10 + 7 * HOUR + 29 * 60);
    c.input(Input::PromptDone);
    assert_eq!(played(&c.digits("1")), ["zh-CN/hold"]);
}

#[test]
fn menu_barge_in_invalid_timeout_retries_and_failure() {
    let p = plans(MAIN).expect("valid");
    let (mut c, _) = Call::new(&p, "8000", MONDAY_10);
    c.input(Input::PromptDone);
    // A key during the menu prompt stops it (barge-in); a wrong key re-prompts.
    let a = c.digits("7");
    assert_eq!(a.first(), Some(&Action::StopPlayback));
    assert_eq!(played(&a), ["zh-CN/invalid", "zh-CN/menu"]);
    c.input(Input::PromptDone);
    // Silence past the overall timeout: that was the last retry, so on to the failure node.
    assert!(c.wait(3999).is_empty());
    let a = c.wait(1);
    assert_eq!(last(&a), Some(&Action::Transfer("1100".into())));
}

#[test]
fn menu_timeout_prompt_then_multi_digit_choice_with_inter_digit_timeout() {
    let p = plans(MAIN).expect("valid");
    let (mut c, _) = Call::new(&p, "8000", MONDAY_10);
    c.input(Input::PromptDone);
    c.input(Input::PromptDone);
    assert_eq!(played(&c.wait(4000)), ["zh-CN/no-input", "zh-CN/menu"]);
    c.input(Input::PromptDone);
    // "9" alone is a choice, but "99" is longer: wait the inter-digit time, then take "9".
    assert!(c
        .digits("9")
        .iter()
        .all(|a| !matches!(a, Action::Set { .. })));
    let a = c.wait(1500);
    assert!(a.contains(&Action::Set {
        var: "language".into(),
        value: "en".into()
    }));
    assert_eq!(
        played(&a),
        ["en/menu"],
        "the language changed for every prompt after it"
    );
    c.input(Input::PromptDone);
    // "99" completes at once and jumps to another flow, which tags and comes back.
    let a = c.digits("99");
    assert!(a.contains(&Action::Set {
        var: "media_source".into(),
        value: "network".into()
    }));
    assert!(a.contains(&Action::Entered("ads/tag".into())));
    assert_eq!(played(&a), ["en/greeting"]);
}

#[test]
fn collect_with_terminator_length_and_inter_digit_timeout() {
    let p = plans(MAIN).expect("valid");
    let (mut c, _) = Call::new(&p, "8000", MONDAY_10);
    c.input(Input::PromptDone);
    c.digits("2");
    c.input(Input::PromptDone);
    let a = c.digits("12345#");
    assert!(a.contains(&Action::Set {
        var: "patient_id".into(),
        value: "12345".into()
    }));
    assert_eq!(last(&a), Some(&Action::Transfer("1100".into())));
    // Max length ends collection by itself.
    let (mut c, _) = Call::new(&p, "8000", MONDAY_10);
    c.input(Input::PromptDone);
    c.digits("2");
    let a = c.digits("87654321");
    assert_eq!(
        c.s.vars.get("patient_id").map(String::as_str),
        Some("87654321")
    );
    assert_eq!(last(&a), Some(&Action::Transfer("1100".into())));
    // Too short when the inter-digit timer fires: the failure branch.
    let (mut c, _) = Call::new(&p, "8000", MONDAY_10);
    c.input(Input::PromptDone);
    c.digits("2");
    c.input(Input::PromptDone);
    c.digits("12");
    let a = c.wait(2000);
    assert_eq!(played(&a), ["zh-CN/after-hours", "zh-CN/closing"]);
}

#[test]
fn advertising_number_tags_the_media_source_then_joins_main() {
    let p = plans(MAIN).expect("valid");
    let (c, a) = Call::new(&p, "8001", MONDAY_10);
    assert!(a.contains(&Action::Set {
        var: "media_source".into(),
        value: "network".into()
    }));
    assert_eq!(played(&a), ["zh-CN/greeting"]);
    assert_eq!(
        c.s.vars.get("media_source").map(String::as_str),
        Some("network")
    );
}

#[test]
fn a_loop_of_nodes_that_never_wait_ends_the_call() {
    let looping = MAIN.replace(
        "next = \"menu\"\n\n[[node]]\nid = \"hours\"",
        "next = \"english\"\n\n[[node]]\nid = \"hours\"",
    );
    let p = plans(&looping).expect("valid: the loop is a runtime matter");
    let (mut c, _) = Call::new(&p, "8000", MONDAY_10);
    c.input(Input::PromptDone);
    c.digits("9");
    assert_eq!(last(&c.wait(1500)), Some(&Action::Hangup));
}

#[test]
fn validation_reports_every_problem_with_lines() {
    let bad = MAIN
        .replace(
            "next = \"menu\"\n\n[[node]]\nid = \"menu\"",
            "next = \"menuu\"\n\n[[node]]\nid = \"menu\"",
        )
        .replace("prompts = [\"hold\"]", "prompts = [\"holdd\"]")
        .replace("queue = \"appointments\"", "queue = \"nosuch\"")
        .replace(
            "open = [\"mon-fri 08:00-12:00\"",
            "open = [\"someday 08:00-12:00\"",
        )
        .replace("extension = \"1100\"", "extension = \"1100\"\nchoices = {}");
    let errs = plans(&bad).expect_err("invalid");
    let mut codes: Vec<&str> = errs.iter().map(|d| d.code).collect();
    codes.sort();
    assert_eq!(
        codes,
        ["IV102", "IV104", "IV104", "IV105", "IV107", "IV110"],
        "{errs:#?}"
    );
    for d in &errs {
        assert!(d.line > 0 && d.file == "main.toml", "{d}");
    }
    let unreachable = MAIN.replace(", \"9\" = \"english\" }", " }");
    let errs = plans(&unreachable).expect_err("english is unreachable");
    assert_eq!(errs[0].code, "IV103");
    assert!(errs[0].message.contains("english"));
    let prio = MAIN.replace(
        "var = \"language\"\nvalue = \"en\"",
        "var = \"priority\"\nvalue = \"high\"",
    );
    assert!(plans(&prio)
        .expect_err("priority")
        .iter()
        .any(|d| d.code == "IV112"));
    let dup = MAIN.replace("id = \"closed\"", "id = \"hours\"");
    assert!(plans(&dup)
        .expect_err("duplicate")
        .iter()
        .any(|d| d.code == "IV101"));
    let unknown = MAIN.replace("kind = \"goto\"", "kind = \"dance\"");
    assert!(plans(&unknown)
        .expect_err("kind")
        .iter()
        .any(|d| d.code == "IV106"));
    let syntax = MAIN.replace("[flow]", "[flow]\nnmae = 1");
    let e = plans(&syntax).expect_err("unknown key");
    assert_eq!((e[0].code, e[0].line), ("IV001", 3));
    // Three misspelled keys in three places: three diagnostics, each at its line.
    let three = MAIN
        .replace("[flow]", "[flow]\nnmae = 1")
        .replacen("kind = \"goto\"", "kind = \"goto\"\nflwo = \"x\"", 1)
        .replacen("next = ", "nxet = \"a\"\nnext = ", 1);
    let e = plans(&three).expect_err("three unknown keys");
    let unknown: Vec<_> = e.iter().filter(|d| d.code == "IV001").collect();
    assert_eq!(unknown.len(), 3, "{e:#?}");
    let line = |needle: &str| {
        three
            .lines()
            .position(|l| l.starts_with(needle))
            .expect("line")
            + 1
    };
    let lines: Vec<usize> = unknown.iter().map(|d| d.line).collect();
    for key in ["nmae", "flwo", "nxet"] {
        assert!(lines.contains(&line(key)), "{key}: {e:#?}");
    }
    assert!(unknown
        .iter()
        .any(|d| d.message.contains("did you mean `name`")));
}

#[test]
fn a_key_during_the_greeting_goes_to_the_menu_but_not_past_a_message() {
    let p = plans(MAIN).expect("valid");
    let (mut c, _) = Call::new(&p, "8000", MONDAY_10);
    // Still in the greeting: "1" skips it and is the menu's choice.
    let a = c.digits("1");
    assert!(a.contains(&Action::StopPlayback));
    assert!(a.contains(&Action::Entered("main/hours".into())), "{a:?}");
    assert_eq!(played(&a).last().map(String::as_str), Some("zh-CN/hold"));
    // After hours the closing message is a hangup's prompt: keys do not cut it short.
    let (mut c, _) = Call::new(&p, "8000", MONDAY_10 + 12 * HOUR);
    c.input(Input::PromptDone);
    c.digits("1");
    assert!(
        c.digits("5").is_empty(),
        "no effect while the final prompts play"
    );
}
