//! The validated dialplans: every reference resolved to an index, every time window parsed.

use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowId(pub usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(pub usize);

/// A node anywhere: flow and node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    pub flow: FlowId,
    pub node: NodeId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuSpec {
    pub prompts: Vec<String>,
    pub choices: Vec<(String, NodeId)>,
    pub timeout: Duration,
    pub inter_digit: Duration,
    pub retries: u32,
    pub invalid_prompts: Vec<String>,
    pub timeout_prompts: Vec<String>,
    pub on_failure: NodeId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectSpec {
    pub prompts: Vec<String>,
    pub var: String,
    pub min_len: usize,
    pub max_len: usize,
    pub terminator: Option<char>,
    pub timeout: Duration,
    pub inter_digit: Duration,
    pub next: NodeId,
    pub on_failure: NodeId,
}

/// Opening hours: weekly windows in local time, minus holidays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Local time minus UTC, in minutes.
    pub utc_offset_min: i32,
    /// (days bitmask Monday=bit 0, from minute, to minute), `to` exclusive.
    pub windows: Vec<(u8, u16, u16)>,
    pub holidays: Vec<(i32, u8, u8)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Play {
        prompts: Vec<String>,
        next: NodeId,
    },
    Menu(MenuSpec),
    Collect(CollectSpec),
    Time {
        schedule: Schedule,
        when_open: NodeId,
        when_closed: NodeId,
    },
    Set {
        var: String,
        value: String,
        next: NodeId,
    },
    Goto {
        flow: FlowId,
    },
    Queue {
        queue: String,
        prompts: Vec<String>,
    },
    Transfer {
        extension: String,
        prompts: Vec<String>,
    },
    Hangup {
        prompts: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub name: String,
    pub file: String,
    pub numbers: Vec<String>,
    pub start: NodeId,
    pub nodes: Vec<Node>,
    pub node_names: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dialplans {
    pub flows: Vec<Flow>,
    pub by_number: HashMap<String, FlowId>,
}

impl Dialplans {
    pub fn flow(&self, id: FlowId) -> &Flow {
        &self.flows[id.0]
    }

    pub fn node(&self, t: Target) -> &Node {
        &self.flows[t.flow.0].nodes[t.node.0]
    }

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

    pub fn flow_by_name(&self, name: &str) -> Option<FlowId> {
        self.flows.iter().position(|f| f.name == name).map(FlowId)
    }
}
