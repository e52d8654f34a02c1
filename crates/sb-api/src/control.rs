//! Requests from the control API to the engine's loop: the API runs on its own thread and
//! never touches the engine; it sends a request over a channel and the loop answers it
//! between two turns, so a request sees (and changes) the engine exactly as calls do.

use sb_acd::{AgentView, QueueView};
use sb_engine::{
    AgentCommand, CallAction, CallId, Control, ControlError, Engine, LiveCall, WallClock,
};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    ListCalls,
    /// Hold, mute, hang up, transfer or consult on a call.
    Call {
        call: u64,
        action: CallAction,
    },
    ListAgents,
    ListQueues,
    /// The carriers' trunks: registration, health, calls.
    ListTrunks,
    /// Log in or out, pause or unpause an agent.
    Agent {
        agent: String,
        command: AgentCommand,
    },
    /// Place a call from extension `from` to `to` (an agent: from its own extension).
    Place {
        from: String,
        to: String,
    },
    /// Calls, agents and queues at one instant, for the consoles (an agent: its own calls
    /// and itself).
    Snapshot,
    /// Everything the metrics show (the timers' lag starts over).
    Metrics,
}

/// The call records' store as the metrics show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreFigures {
    /// Messages waiting for the writer.
    pub queue_depth: u64,
    /// Operations that found the writer's queue full and went to the journal only.
    pub spilled: u64,
    /// Operations the writer committed.
    pub committed: u64,
}

/// What `GET /metrics` shows, read in one turn of the engine's loop.
#[derive(Debug, PartialEq)]
pub struct MetricsFigures {
    pub counters: sb_engine::metrics::Counters,
    pub sip: sb_sip::counters::SipCounters,
    pub calls: Vec<LiveCall>,
    pub agents: Vec<AgentView>,
    pub queues: Vec<QueueView>,
    pub trunks: Vec<(sb_sip::trunk::TrunkView, u32)>,
    pub registered: usize,
    pub store: StoreFigures,
}

/// The engine at one instant, as the consoles show it.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// When it was taken, on the engine's clock.
    pub now: Instant,
    /// The engine's instants as Unix milliseconds.
    pub wall: WallClock,
    pub calls: Vec<LiveCall>,
    pub agents: Vec<AgentView>,
    pub queues: Vec<QueueView>,
    /// Every extension's phone.
    pub presence: Vec<(String, sb_engine::Presence)>,
}

#[derive(Debug, PartialEq)]
pub enum Reply {
    Calls(Vec<LiveCall>),
    Agents(Vec<AgentView>),
    Queues(Vec<QueueView>),
    /// Each trunk as streamed (`events::trunk`), with its calls now.
    Trunks(Vec<serde_json::Value>),
    Snapshot(Box<Snapshot>),
    Metrics(Box<MetricsFigures>),
    Done,
    /// The call placed.
    Placed(CallId),
    Failed(ControlError),
    /// An agent's token asked about a call that is not theirs.
    NotYours,
}

pub struct ControlRequest {
    pub command: Command,
    /// For an agent's token: the extension, whose calls alone it may act on.
    pub agent: Option<String>,
    pub reply: oneshot::Sender<Reply>,
}

pub type ControlSender = mpsc::Sender<ControlRequest>;
pub type ControlReceiver = mpsc::Receiver<ControlRequest>;

/// The channel between the API and the loop; a few hundred requests may wait.
pub fn channel() -> (ControlSender, ControlReceiver) {
    mpsc::channel(256)
}

/// Carries out one request on the engine; `store` is the records' store now (the runtime's
/// own figures, for the metrics).
pub fn serve(engine: &mut Engine, now: Instant, req: ControlRequest, store: StoreFigures) {
    // An agent's own calls: those it talks on, and those placed for it.
    let mine = |c: &LiveCall| {
        req.agent
            .as_ref()
            .is_none_or(|a| c.agent.as_ref() == Some(a) || (c.placed && c.caller == *a))
    };
    let agents = || -> Vec<AgentView> {
        engine
            .live_agents()
            .into_iter()
            .filter(|a| req.agent.as_ref().is_none_or(|me| *me == a.id))
            .collect()
    };
    let reply = match &req.command {
        Command::ListCalls => Reply::Calls(engine.live_calls().into_iter().filter(mine).collect()),
        Command::ListAgents => Reply::Agents(agents()),
        Command::Snapshot => Reply::Snapshot(Box::new(Snapshot {
            now,
            wall: engine.wall_clock(),
            calls: engine.live_calls().into_iter().filter(mine).collect(),
            agents: agents(),
            queues: engine.live_queues(now),
            presence: engine.live_presence(now),
        })),
        Command::Metrics => Reply::Metrics(Box::new(MetricsFigures {
            counters: engine.take_counters(),
            sip: engine.sip_counters().clone(),
            calls: engine.live_calls(),
            agents: engine.live_agents(),
            queues: engine.live_queues(now),
            trunks: engine.live_trunks(),
            registered: engine
                .live_presence(now)
                .iter()
                .filter(|(_, p)| *p != sb_engine::Presence::Offline)
                .count(),
            store,
        })),
        Command::ListQueues => Reply::Queues(engine.live_queues(now)),
        Command::ListTrunks => Reply::Trunks(
            engine
                .live_trunks()
                .iter()
                .map(|(view, calls)| {
                    let mut v = crate::events::trunk(view);
                    v["calls"] = serde_json::json!(calls);
                    v
                })
                .collect(),
        ),
        Command::Agent { agent, .. } if req.agent.as_ref().is_some_and(|me| me != agent) => {
            Reply::NotYours
        }
        Command::Agent { agent, command } => {
            match engine.agent_command(now, agent, command.clone()) {
                Ok(()) => Reply::Done,
                Err(e) => Reply::Failed(e),
            }
        }
        Command::Place { from, .. } if req.agent.as_ref().is_some_and(|me| me != from) => {
            Reply::NotYours
        }
        Command::Place { from, to } => match engine.place_call(now, from, to) {
            Ok(id) => Reply::Placed(id),
            Err(e) => Reply::Failed(e),
        },
        Command::Call { call, action } => match engine.live_call(CallId(*call)) {
            None => Reply::Failed(ControlError::NoSuchCall),
            Some(c) if !mine(&c) => Reply::NotYours,
            Some(_) => match engine.call_action(now, CallId(*call), action.clone(), Control::Api) {
                Ok(()) => Reply::Done,
                Err(e) => Reply::Failed(e),
            },
        },
    };
    let _ = req.reply.send(reply);
}
