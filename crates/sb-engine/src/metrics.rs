//! What the engine counts for the metrics: RTP packets each way (bumped on the per-packet
//! path: plain integers), each media leg's loss and jitter when it ends, calls started and
//! ended, per queue what happened to the patients, and how late the loop ran its timers.
//! Read (and the lag reset) when Prometheus scrapes, through the control channel.

use crate::event::EngineEvent;
use sb_acd::AcdEvent;
use std::collections::BTreeMap;
use std::time::Duration;

/// One queue's counts since the engine started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Patients who joined.
    pub joined: u64,
    /// Answered by an agent.
    pub answered: u64,
    /// Answered within the answer threshold of waiting (the service level's numerator).
    pub answered_in_threshold: u64,
    /// Picked up within three rings of the offer.
    pub answered_in_rings: u64,
    /// Hung up while waiting (short abandons included).
    pub abandoned: u64,
    /// Sent on by the overflow rules.
    pub overflowed: u64,
}

/// The engine's figures since it started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// RTP packets that reached a call's port, and that the engine sent.
    pub rtp_in: u64,
    /// See `rtp_in`.
    pub rtp_out: u64,
    /// Media legs ended and measured.
    pub media_legs: u64,
    /// Over those legs: packets expected, never come, and the sum of their jitter.
    pub rtp_expected: u64,
    /// See `rtp_expected`.
    pub rtp_lost: u64,
    /// See `rtp_expected` (milliseconds).
    pub jitter_ms_sum: f64,
    /// Calls taken and ended.
    pub calls_started: u64,
    /// See `calls_started`.
    pub calls_ended: u64,
    /// Per queue.
    pub queues: BTreeMap<String, QueueCounts>,
    /// The latest a timer ran since the counters were last read.
    pub timer_lag_max: Duration,
}

impl Counters {
    /// Counts what `e` says happened; `queue_of` names the queue an answered call waited
    /// in, `threshold` is the answer threshold.
    pub(crate) fn tally(
        &mut self,
        e: &EngineEvent,
        threshold: Duration,
        queue_of: impl Fn(sb_types::CallId) -> Option<String>,
    ) {
        match e {
            EngineEvent::CallStarted { .. } => self.calls_started += 1,
            EngineEvent::CallEnded { .. } => self.calls_ended += 1,
            EngineEvent::MediaQuality {
                jitter_ms,
                expected,
                lost,
                ..
            } => {
                self.media_legs += 1;
                self.rtp_expected += expected;
                self.rtp_lost += lost;
                self.jitter_ms_sum += jitter_ms;
            }
            EngineEvent::Acd(a) => match a {
                AcdEvent::Joined { queue, .. } => self.queue(queue).joined += 1,
                AcdEvent::Abandoned { queue, .. } => self.queue(queue).abandoned += 1,
                AcdEvent::Overflowed { queue, .. } => self.queue(queue).overflowed += 1,
                AcdEvent::Answered {
                    call,
                    within_rings,
                    waited,
                    ..
                } => {
                    if let Some(q) = queue_of(*call) {
                        let c = self.queue(&q);
                        c.answered += 1;
                        c.answered_in_threshold += u64::from(*waited <= threshold);
                        c.answered_in_rings += u64::from(*within_rings);
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// A timer ran `late`.
    pub(crate) fn timer_ran(&mut self, late: Duration) {
        self.timer_lag_max = self.timer_lag_max.max(late);
    }

    fn queue(&mut self, name: &str) -> &mut QueueCounts {
        self.queues.entry(name.to_string()).or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sb_acd::AgentId;
    use sb_types::CallId;

    #[test]
    fn queues_count_answers_against_the_threshold_and_legs_their_media() {
        let mut c = Counters::default();
        let s = Duration::from_secs;
        let answered = |waited, within_rings| {
            EngineEvent::Acd(AcdEvent::Answered {
                call: CallId(1),
                agent: AgentId("1003".into()),
                rang: s(3),
                within_rings,
                waited,
            })
        };
        let q = |_| Some("consultation".to_string());
        c.tally(&answered(s(10), true), s(15), q);
        c.tally(&answered(s(20), true), s(15), q);
        c.tally(&answered(s(20), false), s(15), |_| None);
        c.tally(
            &EngineEvent::Acd(AcdEvent::Abandoned {
                call: CallId(2),
                queue: "consultation".into(),
                waited: s(30),
            }),
            s(15),
            q,
        );
        let got = c.queues["consultation"];
        assert_eq!(
            (
                got.answered,
                got.answered_in_threshold,
                got.answered_in_rings,
                got.abandoned
            ),
            (2, 1, 2, 1)
        );
        c.timer_ran(Duration::from_millis(3));
        c.timer_ran(Duration::from_millis(1));
        assert_eq!(c.timer_lag_max, Duration::from_millis(3));
    }
}
