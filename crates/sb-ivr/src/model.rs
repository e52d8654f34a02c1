//! The validated dialplans: every reference resolved to an index, every time window parsed.

use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
/// A flow, by its place in [`Dialplans::flows`].
pub struct FlowId(pub usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
/// A node, by its place in its flow's nodes.
pub struct NodeId(pub usize);

/// A node anywhere: flow and node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// The flow.
    pub flow: FlowId,
    /// The node in it.
    pub node: NodeId,
}

/// A menu: one choice by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuSpec {
    /// Played first; a key barges in.
    pub prompts: Vec<String>,
    /// (keys, where they lead).
    pub choices: Vec<(String, NodeId)>,
    /// How long to wait for the first key after the prompts.
    pub timeout: Duration,
    /// How long to wait for each further key.
    pub inter_digit: Duration,
    /// How many times the menu is played again after a wrong key or none.
    pub retries: u32,
    /// Played after a wrong key.
    pub invalid_prompts: Vec<String>,
    /// Played after no key.
    pub timeout_prompts: Vec<String>,
    /// Where the call goes when the retries are used up.
    pub on_failure: NodeId,
}

/// A collection of several keys into a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectSpec {
    /// Played first; a key barges in.
    pub prompts: Vec<String>,
    /// The variable the keys are kept in.
    pub var: String,
    /// The fewest keys accepted.
    pub min_len: usize,
    /// The most keys taken.
    pub max_len: usize,
    /// The key that ends the entry early (`#`).
    pub terminator: Option<char>,
    /// How long to wait for the first key after the prompts.
    pub timeout: Duration,
    /// How long to wait for each further key.
    pub inter_digit: Duration,
    /// Where the call goes with a good entry.
    pub next: NodeId,
    /// Where it goes without one.
    pub on_failure: NodeId,
}

/// Opening hours: weekly windows in local time, minus holidays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Local time minus UTC, in minutes.
    pub utc_offset_min: i32,
    /// (days bitmask Monday=bit 0, from minute, to minute), `to` exclusive.
    pub windows: Vec<(u8, u16, u16)>,
    /// Dates closed all day: (year, month, day).
    pub holidays: Vec<(i32, u8, u8)>,
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Plays prompts, then goes on.
    Play {
        /// The prompts.
        prompts: Vec<String>,
        /// Where the call goes after them.
        next: NodeId,
    },
    /// Asks for one choice by key.
    Menu(MenuSpec),
    /// Collects several keys into a variable.
    Collect(CollectSpec),
    /// Branches on opening hours.
    Time {
        /// The opening hours.
        schedule: Schedule,
        /// Where the call goes while open.
        when_open: NodeId,
        /// Where it goes while closed.
        when_closed: NodeId,
    },
    /// Sets a call variable (a tag, the media source, the language, the priority).
    Set {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
        /// Where the call goes next.
        next: NodeId,
    },
    /// Goes on in another flow, at its start.
    Goto {
        /// The flow.
        flow: FlowId,
    },
    /// Plays prompts, then hands the call to a queue.
    Queue {
        /// The queue.
        queue: String,
        /// Played before.
        prompts: Vec<String>,
    },
    /// Plays prompts, then rings an extension.
    Transfer {
        /// The extension, or the on-duty number.
        extension: String,
        /// Played before.
        prompts: Vec<String>,
    },
    /// Plays prompts, then ends the call.
    Hangup {
        /// Played before (the standard closing).
        prompts: Vec<String>,
    },
}

/// One flow: one dialplan file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// Its name.
    pub name: String,
    /// The file it was read from (for diagnostics).
    pub file: String,
    /// The numbers that reach it.
    pub numbers: Vec<String>,
    /// Where a call starts.
    pub start: NodeId,
    /// Its nodes.
    pub nodes: Vec<Node>,
    /// Each node's name, by the same index.
    pub node_names: Vec<String>,
}

/// Every flow, and which number reaches which.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dialplans {
    /// Every flow.
    pub flows: Vec<Flow>,
    /// The flow each number reaches.
    pub by_number: HashMap<String, FlowId>,
}

impl Dialplans {
    /// The flow `id`.
    pub fn flow(&self, id: FlowId) -> &Flow {
        &self.flows[id.0]
    }

    /// The node at `t`.
    pub fn node(&self, t: Target) -> &Node {
        &self.flows[t.flow.0].nodes[t.node.0]
    }

    /// `flow/node` of `t`, as the records show it.
    pub fn node_name(&self, t: Target) -> String {
        let f = &self.flows[t.flow.0];
        format!("{}/{}", f.name, f.node_names[t.node.0])
    }

    /// Where a call to `number` starts.
    pub fn entry(&self, number: &str) -> Option<Target> {
        let flow = *self.by_number.get(number)?;
        Some(Target {
            flow,
            node: self.flows[flow.0].start,
        })
    }

    /// The flow called `name`.
    pub fn flow_by_name(&self, name: &str) -> Option<FlowId> {
        self.flows.iter().position(|f| f.name == name).map(FlowId)
    }
}
