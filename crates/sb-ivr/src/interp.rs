//! The per-call IVR interpreter. Sans-IO: it is given the time (`now` for its timers, Unix
//! seconds for opening hours) and an input, and hands back what the call should do.

use crate::model::{CollectSpec, Dialplans, MenuSpec, Node, Target};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the call brings the dialplan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The caller pressed a key.
    Digit(char),
    /// Everything the last `Play` queued has been heard.
    PromptDone,
}

/// A prompt by name in a language: `prompts/<language>/<name>.wav`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptRef {
    /// The language's folder.
    pub language: String,
    /// The prompt's file name without `.wav`.
    pub name: String,
}

/// What the dialplan asks of the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Queue these prompts after whatever is playing.
    Play(Vec<PromptRef>),
    /// Stop what is playing (the caller pressed a key: barge-in).
    StopPlayback,
    /// The call entered a node (for the call's IVR path and the logs).
    Entered(String),
    /// A call variable or tag was set (media source, language...).
    Set {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
    },
    /// Into this queue: the ACD takes the call over.
    Queue(String),
    /// Ring this extension (or the on-duty number) while the caller waits.
    Transfer(String),
    /// End the call.
    Hangup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Waiting for the prompts of a play node, then `next`.
    Play,
    /// A menu or collect node: prompts playing (digits barge in), then digits.
    Prompting,
    Digits,
    /// Prompts before a final action (queue, transfer, hangup).
    Final,
    Done,
}

/// Steps one input may take through nodes that do not wait, before the call is judged to
/// loop (set -> goto -> set ...) and is ended.
const MAX_STEPS: usize = 64;

/// One call's run through the dialplans.
#[derive(Debug)]
pub struct Session {
    plans: Arc<Dialplans>,
    at: Target,
    wait: Wait,
    /// The call's variables (`priority`, `media_source`, tags...).
    pub vars: BTreeMap<String, String>,
    default_language: String,
    digits: String,
    attempts: u32,
    deadline: Option<Instant>,
    /// The nodes entered so far, as `flow/node`.
    pub path: Vec<String>,
}

impl Session {
    /// A run from `entry`, in `default_language` until the dialplan chooses another.
    pub fn new(plans: Arc<Dialplans>, entry: Target, default_language: &str) -> Session {
        Session {
            plans,
            at: entry,
            wait: Wait::Done,
            vars: BTreeMap::new(),
            default_language: default_language.to_string(),
            digits: String::new(),
            attempts: 0,
            deadline: None,
            path: Vec::new(),
        }
    }

    /// The language prompts are played in now.
    pub fn language(&self) -> &str {
        self.vars
            .get("language")
            .map(String::as_str)
            .unwrap_or(&self.default_language)
    }

    /// Whether the run is over (queued, transferred, hung up).
    pub fn is_done(&self) -> bool {
        self.wait == Wait::Done
    }

    /// When [`Session::handle_timeout`] is needed next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The call was answered: run from the entry node.
    pub fn start(&mut self, unix_secs: i64) -> Vec<Action> {
        let mut out = Vec::new();
        self.enter(unix_secs, self.at, &mut out);
        out
    }

    /// A key, or the end of the prompts; `unix_secs` is the wall clock for opening hours.
    pub fn handle(&mut self, now: Instant, unix_secs: i64, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        match (self.wait, input) {
            (Wait::Play, Input::PromptDone) => {
                if let Node::Play { next, .. } = self.plans.node(self.at) {
                    let t = Target {
                        flow: self.at.flow,
                        node: *next,
                    };
                    self.enter(unix_secs, t, &mut out);
                }
            }
            // Type-ahead: a caller who knows the menu may press during the greeting. The key
            // ends the greeting and goes to the menu or collect that follows; before anything
            // else (an after-hours message, say) it is ignored.
            (Wait::Play, Input::Digit(d)) => {
                let Node::Play { next, .. } = self.plans.node(self.at) else {
                    return out;
                };
                let t = Target {
                    flow: self.at.flow,
                    node: *next,
                };
                if matches!(self.plans.node(t), Node::Menu(_) | Node::Collect(_)) {
                    self.enter(unix_secs, t, &mut out);
                    // Stops the greeting and the menu prompt just queued alike.
                    out.push(Action::StopPlayback);
                    self.wait = Wait::Digits;
                    self.on_digit(now, unix_secs, d, &mut out);
                }
            }
            (Wait::Final, Input::PromptDone) => self.finish(&mut out),
            (Wait::Prompting, Input::PromptDone) => {
                self.wait = Wait::Digits;
                self.deadline = Some(now + self.overall_timeout());
            }
            (Wait::Prompting, Input::Digit(d)) => {
                out.push(Action::StopPlayback);
                self.wait = Wait::Digits;
                self.on_digit(now, unix_secs, d, &mut out);
            }
            (Wait::Digits, Input::Digit(d)) => self.on_digit(now, unix_secs, d, &mut out),
            // Digits while final prompts play, and stray prompt-done events, are ignored.
            _ => {}
        }
        out
    }

    /// A menu's or a collection's wait for keys is over.
    pub fn handle_timeout(&mut self, now: Instant, unix_secs: i64) -> Vec<Action> {
        let mut out = Vec::new();
        if self.deadline.is_some_and(|d| d <= now) && self.wait == Wait::Digits {
            self.deadline = None;
            match self.plans.node(self.at).clone() {
                Node::Menu(m) => self.menu_timeout(unix_secs, &m, &mut out),
                Node::Collect(c) => self.collect_done(unix_secs, &c, &mut out),
                _ => {}
            }
        }
        out
    }

    fn overall_timeout(&self) -> Duration {
        match self.plans.node(self.at) {
            Node::Menu(m) => m.timeout,
            Node::Collect(c) => c.timeout,
            _ => Duration::ZERO,
        }
    }

    fn prompts(&self, names: &[String]) -> Vec<PromptRef> {
        let language = self.language().to_string();
        names
            .iter()
            .map(|n| PromptRef {
                language: language.clone(),
                name: n.clone(),
            })
            .collect()
    }

    fn enter(&mut self, unix_secs: i64, mut t: Target, out: &mut Vec<Action>) {
        for _ in 0..MAX_STEPS {
            self.at = t;
            self.deadline = None;
            let name = self.plans.node_name(t);
            self.path.push(name.clone());
            out.push(Action::Entered(name));
            let same = |node| Target { flow: t.flow, node };
            match self.plans.node(t).clone() {
                Node::Play { prompts, .. } => {
                    out.push(Action::Play(self.prompts(&prompts)));
                    self.wait = Wait::Play;
                    return;
                }
                Node::Menu(MenuSpec { prompts, .. })
                | Node::Collect(CollectSpec { prompts, .. }) => {
                    self.digits.clear();
                    self.attempts = 0;
                    out.push(Action::Play(self.prompts(&prompts)));
                    self.wait = Wait::Prompting;
                    return;
                }
                Node::Time {
                    schedule,
                    when_open,
                    when_closed,
                } => {
                    t = same(if schedule.is_open(unix_secs) {
                        when_open
                    } else {
                        when_closed
                    });
                }
                Node::Set { var, value, next } => {
                    self.vars.insert(var.clone(), value.clone());
                    out.push(Action::Set { var, value });
                    t = same(next);
                }
                Node::Goto { flow } => {
                    t = Target {
                        flow,
                        node: self.plans.flow(flow).start,
                    };
                }
                // The queue's prompts ("please hold...") are the first thing the caller
                // hears while waiting: the call joins the queue at once, so an agent may be
                // ringing already while they play.
                Node::Queue { prompts, .. } => {
                    if !prompts.is_empty() {
                        out.push(Action::Play(self.prompts(&prompts)));
                    }
                    self.finish(out);
                    return;
                }
                Node::Transfer { prompts, .. } | Node::Hangup { prompts } => {
                    if prompts.is_empty() {
                        self.finish(out);
                    } else {
                        out.push(Action::Play(self.prompts(&prompts)));
                        self.wait = Wait::Final;
                    }
                    return;
                }
            }
        }
        // A loop of nodes that never wait: end the call rather than spin.
        out.push(Action::Hangup);
        self.wait = Wait::Done;
    }

    fn finish(&mut self, out: &mut Vec<Action>) {
        self.wait = Wait::Done;
        self.deadline = None;
        out.push(match self.plans.node(self.at) {
            Node::Queue { queue, .. } => Action::Queue(queue.clone()),
            Node::Transfer { extension, .. } => Action::Transfer(extension.clone()),
            _ => Action::Hangup,
        });
    }

    fn on_digit(&mut self, now: Instant, unix_secs: i64, d: char, out: &mut Vec<Action>) {
        match self.plans.node(self.at).clone() {
            Node::Menu(m) => {
                self.digits.push(d);
                let exact = m
                    .choices
                    .iter()
                    .find(|(k, _)| *k == self.digits)
                    .map(|(_, n)| *n);
                let longer = m
                    .choices
                    .iter()
                    .any(|(k, _)| k.len() > self.digits.len() && k.starts_with(&self.digits));
                match (exact, longer) {
                    (Some(next), false) => {
                        let t = Target {
                            flow: self.at.flow,
                            node: next,
                        };
                        self.enter(unix_secs, t, out);
                    }
                    (_, true) => self.deadline = Some(now + m.inter_digit),
                    (None, false) => self.retry(unix_secs, &m, &m.invalid_prompts, out),
                }
            }
            Node::Collect(c) => {
                if Some(d) == c.terminator {
                    return self.collect_done(unix_secs, &c, out);
                }
                self.digits.push(d);
                if self.digits.len() >= c.max_len {
                    self.collect_done(unix_secs, &c, out);
                } else {
                    self.deadline = Some(now + c.inter_digit);
                }
            }
            _ => {}
        }
    }

    fn menu_timeout(&mut self, unix_secs: i64, m: &MenuSpec, out: &mut Vec<Action>) {
        if self.digits.is_empty() {
            return self.retry(unix_secs, m, &m.timeout_prompts, out);
        }
        match m.choices.iter().find(|(k, _)| *k == self.digits) {
            Some((_, next)) => {
                let t = Target {
                    flow: self.at.flow,
                    node: *next,
                };
                self.enter(unix_secs, t, out);
            }
            None => self.retry(unix_secs, m, &m.invalid_prompts, out),
        }
    }

    /// A wrong key or silence: say so and ask again, or give up after the last retry.
    fn retry(&mut self, unix_secs: i64, m: &MenuSpec, why: &[String], out: &mut Vec<Action>) {
        self.digits.clear();
        self.attempts += 1;
        if self.attempts > m.retries {
            let t = Target {
                flow: self.at.flow,
                node: m.on_failure,
            };
            return self.enter(unix_secs, t, out);
        }
        let mut again = self.prompts(why);
        again.extend(self.prompts(&m.prompts));
        out.push(Action::Play(again));
        self.wait = Wait::Prompting;
        self.deadline = None;
    }

    fn collect_done(&mut self, unix_secs: i64, c: &CollectSpec, out: &mut Vec<Action>) {
        let ok = (c.min_len..=c.max_len).contains(&self.digits.len());
        let next = if ok {
            let value = std::mem::take(&mut self.digits);
            self.vars.insert(c.var.clone(), value.clone());
            out.push(Action::Set {
                var: c.var.clone(),
                value,
            });
            c.next
        } else {
            c.on_failure
        };
        let t = Target {
            flow: self.at.flow,
            node: next,
        };
        self.enter(unix_secs, t, out);
    }
}
