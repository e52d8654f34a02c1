//! Reads every flow of a dialplan directory and checks it all, reporting every problem at
//! once with file, line and a stable code: unknown and unreachable nodes, missing prompts,
//! unknown queues and extensions, bad schedules, fields a kind needs or must not have.

pub mod raw;

use crate::{Diagnostic, Source};
use raw::{RawFlow, RawNode, S};
use sb_ivr::model::{CollectSpec, Dialplans, Flow, FlowId, MenuSpec, Node, NodeId, Schedule};
use sb_types::civil::{hhmm, utc_offset};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;
use toml::Spanned;

/// What the dialplans are checked against.
pub struct Context<'a> {
    pub queues: &'a [String],
    pub extensions: &'a [String],
    pub languages: &'a [String],
    /// Whether prompt `name` exists for `language`.
    pub prompt_exists: &'a dyn Fn(&str, &str) -> bool,
}

struct Checker<'a> {
    out: Vec<Diagnostic>,
    sources: &'a [Source],
}

impl Checker<'_> {
    fn at(
        &mut self,
        file: usize,
        span: std::ops::Range<usize>,
        code: &'static str,
        message: String,
    ) {
        let src = &self.sources[file];
        let line = if span.end == 0 {
            0
        } else {
            src.line_of(span.start)
        };
        self.out.push(Diagnostic {
            code,
            file: src.name.clone(),
            line,
            message,
        });
    }
}

/// Which fields each kind takes: (required, optional).
fn fields(kind: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    Some(match kind {
        "play" => (&["prompts", "next"], &[]),
        "menu" => (
            &["prompts", "choices", "on_failure"],
            &[
                "timeout_ms",
                "inter_digit_ms",
                "retries",
                "invalid_prompts",
                "timeout_prompts",
            ],
        ),
        "collect" => (
            &["prompts", "var", "min_len", "max_len", "next", "on_failure"],
            &["terminator", "timeout_ms", "inter_digit_ms"],
        ),
        "time" => (
            &["open", "when_open", "when_closed"],
            &["timezone", "holidays"],
        ),
        "set" => (&["var", "value", "next"], &[]),
        "goto" => (&["flow"], &[]),
        "queue" => (&["queue"], &["prompts"]),
        "transfer" => (&["extension"], &["prompts"]),
        "hangup" => (&[], &["prompts"]),
        _ => return None,
    })
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day(s: &str) -> Option<usize> {
    DAYS.iter().position(|d| *d == s)
}

/// `mon-fri 08:00-12:00`, `daily 08:00-20:00`, `sat,sun 09:00-12:00`.
pub fn parse_window(s: &str) -> Option<(u8, u16, u16)> {
    let (days, times) = s.trim().split_once(' ')?;
    let mut mask = 0u8;
    if days == "daily" {
        mask = 0x7F;
    } else {
        for part in days.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    if a > b {
                        return None;
                    }
                    (a..=b).for_each(|d| mask |= 1 << d);
                }
                None => mask |= 1 << day(part)?,
            }
        }
    }
    let (from, to) = times.trim().split_once('-')?;
    let (from, to) = (hhmm(from)?, hhmm(to)?);
    (from < to).then_some((mask, from, to))
}

pub(crate) fn parse_date(s: &str) -> Option<(i32, u8, u8)> {
    let mut it = s.split('-');
    let (y, m, d) = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    (it.next().is_none() && (1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

/// Loads every `*.toml` of `sources` as one flow each and validates them together.
pub fn load(sources: &[Source], ctx: &Context<'_>) -> Result<Dialplans, Vec<Diagnostic>> {
    let mut c = Checker {
        out: Vec::new(),
        sources,
    };
    let mut raws: Vec<(usize, RawFlow)> = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        let (flow, shape) = crate::shape::from_str_all::<RawFlow>(&src.text);
        for e in shape {
            c.at(i, e.span, "IV001", e.message);
        }
        if let Some(f) = flow {
            raws.push((i, f));
        }
    }
    // Flow names and numbers first: gotos may point forward to any file.
    let mut flow_ids: HashMap<String, FlowId> = HashMap::new();
    let mut by_number: HashMap<String, FlowId> = HashMap::new();
    for (n, (file, f)) in raws.iter().enumerate() {
        if flow_ids
            .insert(f.flow.name.get_ref().clone(), FlowId(n))
            .is_some()
        {
            c.at(
                *file,
                f.flow.name.span(),
                "IV109",
                format!(
                    "flow `{}` is defined in more than one file",
                    f.flow.name.get_ref()
                ),
            );
        }
        for num in &f.flow.numbers {
            if num.get_ref().is_empty() || !num.get_ref().bytes().all(|b| b.is_ascii_digit()) {
                c.at(
                    *file,
                    num.span(),
                    "IV109",
                    format!("number `{}` must be digits", num.get_ref()),
                );
            } else if by_number.insert(num.get_ref().clone(), FlowId(n)).is_some() {
                c.at(
                    *file,
                    num.span(),
                    "IV109",
                    format!("number {} enters more than one flow", num.get_ref()),
                );
            }
        }
    }
    let mut flows = Vec::new();
    let mut goto_targets: BTreeSet<usize> = BTreeSet::new();
    for (file, f) in raws.iter() {
        let flow = compile_flow(&mut c, *file, f, &flow_ids, ctx, &mut goto_targets);
        flows.push(flow.unwrap_or_else(|| Flow {
            name: f.flow.name.get_ref().clone(),
            file: sources[*file].name.clone(),
            numbers: Vec::new(),
            start: NodeId(0),
            nodes: Vec::new(),
            node_names: Vec::new(),
        }));
    }
    for (n, (file, f)) in raws.iter().enumerate() {
        if f.flow.numbers.is_empty() && !goto_targets.contains(&n) {
            c.at(
                *file,
                f.flow.name.span(),
                "IV103",
                format!(
                    "flow `{}` has no number and no goto reaches it",
                    f.flow.name.get_ref()
                ),
            );
        }
    }
    if c.out.is_empty() {
        Ok(Dialplans { flows, by_number })
    } else {
        Err(c.out)
    }
}

fn compile_flow(
    c: &mut Checker<'_>,
    file: usize,
    f: &RawFlow,
    flow_ids: &HashMap<String, FlowId>,
    ctx: &Context<'_>,
    goto_targets: &mut BTreeSet<usize>,
) -> Option<Flow> {
    let errors_before = c.out.len();
    let mut ids: HashMap<&str, NodeId> = HashMap::new();
    for (i, node) in f.nodes.iter().enumerate() {
        if ids.insert(node.id.get_ref(), NodeId(i)).is_some() {
            c.at(
                file,
                node.id.span(),
                "IV101",
                format!("node `{}` is defined twice", node.id.get_ref()),
            );
        }
    }
    let resolve = |c: &mut Checker<'_>, r: &S| -> NodeId {
        match ids.get(r.get_ref().as_str()) {
            Some(id) => *id,
            None => {
                c.at(
                    file,
                    r.span(),
                    "IV102",
                    format!(
                        "no node `{}` in flow `{}`",
                        r.get_ref(),
                        f.flow.name.get_ref()
                    ),
                );
                NodeId(usize::MAX)
            }
        }
    };
    let start = resolve(c, &f.flow.start);
    let mut nodes = Vec::new();
    for node in &f.nodes {
        if let Some(n) = compile_node(c, file, node, &resolve, flow_ids, ctx, goto_targets) {
            nodes.push(n);
        }
    }
    if c.out.len() > errors_before {
        return None;
    }
    // Reachability from the start (house rule: report unreachable nodes).
    let mut seen = vec![false; nodes.len()];
    let mut queue = VecDeque::from([start]);
    while let Some(NodeId(i)) = queue.pop_front() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        queue.extend(successors(&nodes[i]));
    }
    for (i, node) in f.nodes.iter().enumerate() {
        if !seen[i] {
            c.at(
                file,
                node.id.span(),
                "IV103",
                format!(
                    "node `{}` can never be reached from `{}`",
                    node.id.get_ref(),
                    f.flow.start.get_ref()
                ),
            );
        }
    }
    Some(Flow {
        name: f.flow.name.get_ref().clone(),
        file: c.sources[file].name.clone(),
        numbers: f.flow.numbers.iter().map(|n| n.get_ref().clone()).collect(),
        start,
        nodes,
        node_names: f.nodes.iter().map(|n| n.id.get_ref().clone()).collect(),
    })
}

fn successors(n: &Node) -> Vec<NodeId> {
    match n {
        Node::Play { next, .. } | Node::Set { next, .. } => vec![*next],
        Node::Menu(m) => m
            .choices
            .iter()
            .map(|(_, t)| *t)
            .chain([m.on_failure])
            .collect(),
        Node::Collect(cs) => vec![cs.next, cs.on_failure],
        Node::Time {
            when_open,
            when_closed,
            ..
        } => vec![*when_open, *when_closed],
        Node::Goto { .. } | Node::Queue { .. } | Node::Transfer { .. } | Node::Hangup { .. } => {
            vec![]
        }
    }
}

fn prompts(
    c: &mut Checker<'_>,
    file: usize,
    list: &Option<Spanned<Vec<S>>>,
    ctx: &Context<'_>,
) -> Vec<String> {
    let Some(list) = list else { return Vec::new() };
    for p in list.get_ref() {
        for lang in ctx.languages {
            if !(ctx.prompt_exists)(lang, p.get_ref()) {
                c.at(
                    file,
                    p.span(),
                    "IV104",
                    format!(
                        "prompt `{}` is missing for language {lang} (prompts/{lang}/{}.wav)",
                        p.get_ref(),
                        p.get_ref()
                    ),
                );
            }
        }
    }
    list.get_ref().iter().map(|p| p.get_ref().clone()).collect()
}

#[allow(clippy::too_many_arguments)]
fn compile_node(
    c: &mut Checker<'_>,
    file: usize,
    n: &RawNode,
    resolve: &dyn Fn(&mut Checker<'_>, &S) -> NodeId,
    flow_ids: &HashMap<String, FlowId>,
    ctx: &Context<'_>,
    goto_targets: &mut BTreeSet<usize>,
) -> Option<Node> {
    let kind = n.kind.get_ref().as_str();
    let Some((required, optional)) = fields(kind) else {
        c.at(file, n.kind.span(), "IV106", format!("node `{}`: kind `{kind}` is not one of play, menu, collect, time, set, goto, queue, transfer, hangup", n.id.get_ref()));
        return None;
    };
    let present = n.present();
    let mut ok = true;
    for (name, span) in &present {
        if !required.contains(name) && !optional.contains(name) {
            c.at(
                file,
                span.clone(),
                "IV105",
                format!(
                    "node `{}`: `{name}` does not belong to a {kind} node",
                    n.id.get_ref()
                ),
            );
            ok = false;
        }
    }
    for name in required {
        if !present.iter().any(|(p, _)| p == name) {
            c.at(
                file,
                n.id.span(),
                "IV105",
                format!("node `{}`: a {kind} node needs `{name}`", n.id.get_ref()),
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    let req = |o: &Option<S>| {
        o.clone()
            .unwrap_or_else(|| Spanned::new(0..0, String::new()))
    };
    let ms = |o: &Option<Spanned<u64>>, d: u64| {
        Duration::from_millis(o.as_ref().map(|v| *v.get_ref()).unwrap_or(d))
    };
    Some(match kind {
        "play" => Node::Play {
            prompts: prompts(c, file, &n.prompts, ctx),
            next: resolve(c, &req(&n.next)),
        },
        "menu" => {
            let choices_raw = n
                .choices
                .as_ref()
                .map(|c| c.get_ref().clone())
                .unwrap_or_default();
            if choices_raw.is_empty() {
                c.at(
                    file,
                    n.id.span(),
                    "IV108",
                    format!(
                        "node `{}`: a menu needs at least one choice",
                        n.id.get_ref()
                    ),
                );
            }
            let mut choices = Vec::new();
            for (key, target) in &choices_raw {
                if key.is_empty()
                    || !key
                        .chars()
                        .all(|ch| ch.is_ascii_digit() || ch == '*' || ch == '#')
                {
                    c.at(
                        file,
                        target.span(),
                        "IV108",
                        format!(
                            "node `{}`: choice `{key}` must be keypad digits",
                            n.id.get_ref()
                        ),
                    );
                }
                choices.push((key.clone(), resolve(c, target)));
            }
            Node::Menu(MenuSpec {
                prompts: prompts(c, file, &n.prompts, ctx),
                choices,
                timeout: ms(&n.timeout_ms, 5000),
                inter_digit: ms(&n.inter_digit_ms, 2000),
                retries: n.retries.as_ref().map(|r| *r.get_ref()).unwrap_or(2),
                invalid_prompts: prompts(c, file, &n.invalid_prompts, ctx),
                timeout_prompts: prompts(c, file, &n.timeout_prompts, ctx),
                on_failure: resolve(c, &req(&n.on_failure)),
            })
        }
        "collect" => {
            let (min, max) = (
                n.min_len.as_ref().map(|v| *v.get_ref()).unwrap_or(0),
                n.max_len.as_ref().map(|v| *v.get_ref()).unwrap_or(0),
            );
            if min == 0 || min > max || max > 32 {
                c.at(
                    file,
                    n.id.span(),
                    "IV111",
                    format!(
                        "node `{}`: need 1 <= min_len <= max_len <= 32",
                        n.id.get_ref()
                    ),
                );
            }
            let terminator = match &n.terminator {
                None => None,
                Some(t) if t.get_ref() == "#" || t.get_ref() == "*" => t.get_ref().chars().next(),
                Some(t) => {
                    c.at(
                        file,
                        t.span(),
                        "IV111",
                        format!("node `{}`: terminator must be `#` or `*`", n.id.get_ref()),
                    );
                    None
                }
            };
            Node::Collect(CollectSpec {
                prompts: prompts(c, file, &n.prompts, ctx),
                var: req(&n.var).into_inner(),
                min_len: min as usize,
                max_len: max as usize,
                terminator,
                timeout: ms(&n.timeout_ms, 5000),
                inter_digit: ms(&n.inter_digit_ms, 2000),
                next: resolve(c, &req(&n.next)),
                on_failure: resolve(c, &req(&n.on_failure)),
            })
        }
        "time" => {
            let tz = n
                .timezone
                .clone()
                .unwrap_or_else(|| Spanned::new(0..0, "Asia/Shanghai".into()));
            let offset = utc_offset(tz.get_ref()).unwrap_or_else(|| {
                c.at(
                    file,
                    tz.span(),
                    "IV107",
                    format!(
                        "time zone `{}` is not known (use Asia/Shanghai, UTC or +HH:MM)",
                        tz.get_ref()
                    ),
                );
                0
            });
            let mut windows = Vec::new();
            for w in n
                .open
                .as_ref()
                .map(|o| o.get_ref().as_slice())
                .unwrap_or_default()
            {
                match parse_window(w.get_ref()) {
                    Some(win) => windows.push(win),
                    None => c.at(
                        file,
                        w.span(),
                        "IV107",
                        format!(
                            "opening window `{}` is not like `mon-fri 08:00-12:00`",
                            w.get_ref()
                        ),
                    ),
                }
            }
            let mut holidays = Vec::new();
            for h in n
                .holidays
                .as_ref()
                .map(|o| o.get_ref().as_slice())
                .unwrap_or_default()
            {
                match parse_date(h.get_ref()) {
                    Some(d) => holidays.push(d),
                    None => c.at(
                        file,
                        h.span(),
                        "IV107",
                        format!("holiday `{}` is not a YYYY-MM-DD date", h.get_ref()),
                    ),
                }
            }
            Node::Time {
                schedule: Schedule {
                    utc_offset_min: offset,
                    windows,
                    holidays,
                },
                when_open: resolve(c, &req(&n.when_open)),
                when_closed: resolve(c, &req(&n.when_closed)),
            }
        }
        "set" => {
            let var = req(&n.var);
            let value = req(&n.value);
            if var.get_ref() == "priority" && value.get_ref().parse::<i32>().is_err() {
                c.at(
                    file,
                    value.span(),
                    "IV112",
                    format!(
                        "priority `{}` must be a whole number (higher is served first)",
                        value.get_ref()
                    ),
                );
            }
            if var.get_ref() == "language" && !ctx.languages.contains(value.get_ref()) {
                c.at(
                    file,
                    value.span(),
                    "IV104",
                    format!(
                        "language `{}` has no prompts (known: {})",
                        value.get_ref(),
                        ctx.languages.join(", ")
                    ),
                );
            }
            Node::Set {
                var: var.into_inner(),
                value: value.into_inner(),
                next: resolve(c, &req(&n.next)),
            }
        }
        "goto" => {
            let name = req(&n.flow);
            match flow_ids.get(name.get_ref()) {
                Some(id) => {
                    goto_targets.insert(id.0);
                    Node::Goto { flow: *id }
                }
                None => {
                    c.at(
                        file,
                        name.span(),
                        "IV109",
                        format!("no flow `{}`", name.get_ref()),
                    );
                    return None;
                }
            }
        }
        "queue" => {
            let q = req(&n.queue);
            if !ctx.queues.contains(q.get_ref()) {
                c.at(
                    file,
                    q.span(),
                    "IV110",
                    format!("no queue `{}` in the configuration", q.get_ref()),
                );
            }
            Node::Queue {
                queue: q.into_inner(),
                prompts: prompts(c, file, &n.prompts, ctx),
            }
        }
        "transfer" => {
            let x = req(&n.extension);
            if !ctx.extensions.contains(x.get_ref()) {
                c.at(
                    file,
                    x.span(),
                    "IV110",
                    format!("no extension {} in the configuration", x.get_ref()),
                );
            }
            Node::Transfer {
                extension: x.into_inner(),
                prompts: prompts(c, file, &n.prompts, ctx),
            }
        }
        _ => Node::Hangup {
            prompts: prompts(c, file, &n.prompts, ctx),
        },
    })
}
