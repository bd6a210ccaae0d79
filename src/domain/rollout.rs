//! The rollout state machine. A rollout moves one flag in one environment from its last-known-good
//! (LKG) variant to a candidate through percentage steps. Transitions are pure functions
//! `(rollout, event, now) -> Result<rollout>`; an illegal event is an error that says what the
//! rollout is waiting for.

use jiff::Timestamp;
use serde::Serialize;

use super::bucket::Percent;
use super::eval::{LiveRollout, LiveShape};
use super::experiment::{ExperimentConfig, ExperimentResult};
use super::gate::{GateConfig, MetricResult, ShadowConfig};
use super::mode::Mode;
use super::segment::{SEGMENT_SHARE_BP, Segment};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RolloutState {
    /// Created but not exposing anyone: waiting for a passing preflight (the offline eval gate).
    Draft,
    /// Waiting for a human: to start (no exposure yet) or to take a human-gated step.
    AwaitingApproval,
    Running,
    /// A rollback was proposed: exposure is frozen at the current step until a human decides.
    RollbackPending,
    Paused,
    Completed,
    RolledBack,
    Aborted,
}

impl RolloutState {
    pub const ALL: [RolloutState; 8] = [
        RolloutState::Draft,
        RolloutState::AwaitingApproval,
        RolloutState::Running,
        RolloutState::RollbackPending,
        RolloutState::Paused,
        RolloutState::Completed,
        RolloutState::RolledBack,
        RolloutState::Aborted,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Draft => "DRAFT",
            RolloutState::AwaitingApproval => "AWAITING_APPROVAL",
            RolloutState::Running => "RUNNING",
            RolloutState::RollbackPending => "ROLLBACK_PENDING",
            RolloutState::Paused => "PAUSED",
            RolloutState::Completed => "COMPLETED",
            RolloutState::RolledBack => "ROLLED_BACK",
            RolloutState::Aborted => "ABORTED",
        }
    }
    pub fn parse(s: &str) -> Option<RolloutState> {
        RolloutState::ALL.into_iter().find(|r| r.as_str() == s)
    }
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RolloutState::Completed | RolloutState::RolledBack | RolloutState::Aborted
        )
    }
}

/// The analysis a rollout runs under, frozen when it starts so a later policy edit never changes a
/// running analysis.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Analysis {
    pub config: GateConfig,
    /// The control's P95 latency bucket bound, frozen at the start of the step once the control arm
    /// had enough latency samples to set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_threshold_ms: Option<u32>,
    /// The segments the plan's first steps expose, one step each, as the policy defined them
    /// when the rollout started (a later edit of the policy never widens a running step).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<Segment>,
    /// The coordinated release this rollout is a member of: its members move, hold and roll back
    /// together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The bucketing salt when it is not the flag's own: a group's, shared by every member, so
    /// the same units are in the canary arm of every member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// The rollout's shape: canary, shadow run or experiment.
    #[serde(default, skip_serializing_if = "Mode::is_canary")]
    pub mode: Mode,
    /// A shadow run's margin, frozen at its start (kept once it became a canary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowConfig>,
    /// When a shadow run became a live canary: the canary's gate reads only the periods after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_ended_at: Option<Timestamp>,
    /// The shadow run's `shadow_agreement` result at the moment it became a canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_result: Option<MetricResult>,
    /// An experiment's split, metrics and stated sample, frozen at its start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<ExperimentConfig>,
    /// A decided experiment's outcome, kept when it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ExperimentResult>,
}

/// How a new rollout opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// Exposing the first step at once.
    Running,
    /// Waiting for a human to approve the start.
    AwaitingApproval,
    /// Waiting for a passing preflight, then for whatever the policy says about starting.
    Draft,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollout {
    pub id: i64,
    pub flag: String,
    pub env: String,
    pub candidate: String,
    pub lkg: String,
    pub steps: Vec<Percent>,
    /// Index into `steps` of the exposure now served; `None` before a human approved the start.
    pub step: Option<usize>,
    /// The step a pending approval would move to.
    pub pending_step: Option<usize>,
    pub state: RolloutState,
    pub step_started_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(skip)]
    pub analysis: Analysis,
    /// Why a PAUSED rollout paused.
    pub paused_reason: Option<String>,
}

/// What can happen to a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A DRAFT rollout's preflight passed: it opens as the policy says.
    Open {
        needs_approval: bool,
    },
    Advance,
    RequestApproval {
        target: usize,
    },
    Approve,
    Reject,
    ProposeRollback,
    RollBack,
    DismissRollback,
    Complete,
    Abort,
    /// Exposure freezes where it is until a human resumes.
    Pause {
        reason: &'a str,
    },
    Resume,
    /// A human's break-glass override: everyone gets the candidate now.
    ForcePromote,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IllegalTransition(pub String);

impl Rollout {
    /// A new rollout: running at its first step, waiting for a human to approve the start, or a
    /// draft waiting for its preflight.
    #[allow(clippy::too_many_arguments)] // a constructor of plain fields; a builder would add nothing
    pub fn start(
        id: i64,
        flag: &str,
        env: &str,
        candidate: &str,
        lkg: &str,
        steps: Vec<Percent>,
        opening: Opening,
        analysis: Analysis,
        now: Timestamp,
    ) -> Rollout {
        let (state, step, pending_step, step_started_at) = match opening {
            Opening::AwaitingApproval => (RolloutState::AwaitingApproval, None, Some(0), None),
            Opening::Running => (RolloutState::Running, Some(0), None, Some(now)),
            Opening::Draft => (RolloutState::Draft, None, None, None),
        };
        Rollout {
            id,
            flag: flag.into(),
            env: env.into(),
            candidate: candidate.into(),
            lkg: lkg.into(),
            steps,
            step,
            pending_step,
            state,
            step_started_at,
            created_at: now,
            updated_at: now,
            analysis,
            paused_reason: None,
        }
    }

    /// The share of users now served the candidate.
    pub fn percent(&self) -> Percent {
        match (self.state, self.step) {
            // A finished experiment hands everyone back to the last-known-good.
            (RolloutState::Completed, _) if self.analysis.mode == Mode::Experiment => Percent::ZERO,
            (RolloutState::Completed, _) => Percent::FULL,
            (RolloutState::RolledBack | RolloutState::Aborted, _) | (_, None) => Percent::ZERO,
            (_, Some(i)) => self.steps[i],
        }
    }

    /// The step after the current one, if any.
    pub fn next_step(&self) -> Option<usize> {
        let next = self.step.map_or(0, |i| i + 1);
        (next < self.steps.len()).then_some(next)
    }

    pub fn at_last_step(&self) -> bool {
        self.step == Some(self.steps.len() - 1)
    }

    /// The segment step `i` exposes, when it is one of the plan's segment steps.
    pub fn segment_at(&self, i: usize) -> Option<&Segment> {
        self.analysis.audiences.get(i)
    }

    /// The segment the current step exposes, if it is a segment step.
    pub fn segment(&self) -> Option<&Segment> {
        match self.state {
            RolloutState::Completed | RolloutState::RolledBack | RolloutState::Aborted => None,
            _ => self.step.and_then(|i| self.segment_at(i)),
        }
    }

    /// Step `i` as people name it: a segment's name or a percentage.
    pub fn step_label(&self, i: usize) -> String {
        match self.segment_at(i) {
            Some(s) => format!("segment {:?}", s.name),
            None => self
                .steps
                .get(i)
                .map_or_else(String::new, |p| p.to_string()),
        }
    }

    /// The exposure now served, as people name it.
    pub fn exposure_label(&self) -> String {
        match (self.segment(), self.step) {
            (Some(s), _) => format!("segment {:?}", s.name),
            _ => self.percent().to_string(),
        }
    }

    /// What evaluation must serve while this rollout exposes anyone. At a segment step, half of
    /// the segment's units by bucket are canary and the other half control.
    pub fn live(&self) -> Option<LiveRollout> {
        (!self.state.is_terminal() && self.step.is_some()).then(|| {
            let segment = self.segment();
            LiveRollout {
                flag: self.flag.clone(),
                env: self.env.clone(),
                candidate: self.candidate.clone(),
                lkg: self.lkg.clone(),
                percent: match segment {
                    Some(_) => Percent::from_basis_points(SEGMENT_SHARE_BP).expect("in range"),
                    None => self.percent(),
                },
                audience: segment.map(|s| s.conditions.clone()),
                salt: self.analysis.salt.clone(),
                shape: match (&self.analysis.mode, &self.analysis.experiment) {
                    (Mode::Shadow, _) => LiveShape::Shadow,
                    (Mode::Experiment, Some(e)) => LiveShape::Experiment(e.split_bp()),
                    _ => LiveShape::Canary,
                },
            }
        })
    }

    fn waiting_for(&self) -> String {
        match self.state {
            RolloutState::AwaitingApproval => "it is waiting for a human's approval (see list_approvals)".into(),
            RolloutState::RollbackPending => "a rollback was proposed and exposure is frozen until a human confirms or dismisses it".into(),
            RolloutState::Paused => format!(
                "it is paused ({}) until a human resumes it with `flagwarden resume {}`",
                self.paused_reason.as_deref().unwrap_or("no reason given"),
                self.id
            ),
            RolloutState::Draft => "it is a draft waiting for a passing preflight (record_signals with eval_pairs)".into(),
            s => format!("it is {}", s.as_str()),
        }
    }

    /// Applies `event` at `now`.
    pub fn apply(&self, event: Event, now: Timestamp) -> Result<Rollout, IllegalTransition> {
        use RolloutState::*;
        let refuse = |what: &str| {
            Err(IllegalTransition(format!(
                "rollout {} cannot {what}: {}",
                self.id,
                self.waiting_for()
            )))
        };
        let mut next = self.clone();
        next.updated_at = now;
        match event {
            Event::Open { needs_approval } => {
                if self.state != Draft {
                    return refuse("open");
                }
                if needs_approval {
                    next.state = AwaitingApproval;
                    next.pending_step = Some(0);
                } else {
                    next.state = Running;
                    next.step = Some(0);
                    next.step_started_at = Some(now);
                }
            }
            Event::Pause { reason } => {
                if !matches!(self.state, Running | AwaitingApproval) {
                    return refuse("pause");
                }
                next.state = Paused;
                next.pending_step = None;
                next.paused_reason = Some(reason.to_owned());
            }
            Event::Resume => {
                if self.state != Paused {
                    return refuse("resume");
                }
                next.state = if self.step.is_some() { Running } else { Draft };
                next.paused_reason = None;
                // The time at this step starts again: dwell and the step limit count from now.
                next.step_started_at = self.step.map(|_| now);
            }
            Event::ForcePromote => {
                if self.state.is_terminal() {
                    return refuse("be promoted");
                }
                next.state = Completed;
                next.step = Some(self.steps.len() - 1);
                next.pending_step = None;
                next.paused_reason = None;
            }
            Event::Advance => {
                if self.state != Running {
                    return refuse("advance");
                }
                let Some(i) = self.next_step() else {
                    return refuse("advance past its last step; complete it instead");
                };
                next.step = Some(i);
                next.step_started_at = Some(now);
            }
            Event::RequestApproval { target } => {
                if self.state != Running || target >= self.steps.len() {
                    return refuse("ask for approval");
                }
                next.state = AwaitingApproval;
                next.pending_step = Some(target);
            }
            Event::Approve => {
                let (AwaitingApproval, Some(target)) = (self.state, self.pending_step) else {
                    return refuse("be approved");
                };
                next.state = Running;
                next.step = Some(target);
                next.pending_step = None;
                next.step_started_at = Some(now);
            }
            Event::Reject => {
                if self.state != AwaitingApproval {
                    return refuse("be rejected");
                }
                next.pending_step = None;
                next.state = if self.step.is_none() {
                    Aborted
                } else {
                    Running
                };
            }
            Event::ProposeRollback => {
                if !matches!(self.state, Running | AwaitingApproval | Paused) {
                    return refuse("take a rollback proposal");
                }
                next.state = RollbackPending;
                next.pending_step = None;
            }
            Event::RollBack => {
                if self.state.is_terminal() {
                    return refuse("roll back");
                }
                next.state = RolledBack;
                next.pending_step = None;
            }
            Event::DismissRollback => {
                if self.state != RollbackPending {
                    return refuse("have a rollback dismissed");
                }
                next.state = Running;
            }
            Event::Complete => {
                if self.state != Running || !self.at_last_step() {
                    return refuse("complete before it serves 100%");
                }
                next.state = Completed;
            }
            Event::Abort => {
                if self.state.is_terminal() {
                    return refuse("be aborted");
                }
                next.state = Aborted;
                next.pending_step = None;
            }
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }
    fn started(opening: Opening) -> Rollout {
        Rollout::start(
            1,
            "f",
            "production",
            "on",
            "off",
            steps(),
            opening,
            Analysis::default(),
            ts(0),
        )
    }
    fn steps() -> Vec<Percent> {
        [1.0, 5.0, 100.0]
            .iter()
            .map(|p| Percent::from_percent(*p).unwrap())
            .collect()
    }

    #[test]
    fn runs_through_its_steps_and_completes() {
        let r = started(Opening::Running);
        assert_eq!(
            (r.state, r.percent().as_f64()),
            (RolloutState::Running, 1.0)
        );
        let r = r.apply(Event::Advance, ts(10)).unwrap();
        assert_eq!(
            (r.percent().as_f64(), r.step_started_at),
            (5.0, Some(ts(10)))
        );
        let r = r
            .apply(Event::RequestApproval { target: 2 }, ts(20))
            .unwrap();
        assert_eq!(r.state, RolloutState::AwaitingApproval);
        assert_eq!(
            r.percent().as_f64(),
            5.0,
            "waiting for approval keeps the current exposure"
        );
        let r = r.apply(Event::Approve, ts(30)).unwrap();
        assert!(r.at_last_step());
        assert!(r.apply(Event::Advance, ts(40)).is_err());
        let r = r.apply(Event::Complete, ts(40)).unwrap();
        assert_eq!(
            (r.state, r.percent()),
            (RolloutState::Completed, Percent::FULL)
        );
        assert!(r.live().is_none());
    }

    #[test]
    fn a_proposed_rollback_freezes_exposure_until_a_human_decides() {
        let r = started(Opening::Running)
            .apply(Event::ProposeRollback, ts(1))
            .unwrap();
        assert_eq!(r.percent().as_f64(), 1.0);
        let err = r.apply(Event::Advance, ts(2)).unwrap_err();
        assert!(err.0.contains("frozen until a human"), "{err}");
        assert_eq!(
            r.apply(Event::DismissRollback, ts(3)).unwrap().state,
            RolloutState::Running
        );
        let done = r.apply(Event::RollBack, ts(3)).unwrap();
        assert_eq!(
            (done.state, done.percent()),
            (RolloutState::RolledBack, Percent::ZERO)
        );
        assert!(
            done.apply(Event::RollBack, ts(4)).is_err(),
            "terminal states stay terminal"
        );
    }

    #[test]
    fn start_approval_exposes_nobody_until_approved() {
        let r = started(Opening::AwaitingApproval);
        assert_eq!(
            (r.state, r.percent(), r.live()),
            (RolloutState::AwaitingApproval, Percent::ZERO, None)
        );
        assert_eq!(
            r.apply(Event::Reject, ts(1)).unwrap().state,
            RolloutState::Aborted
        );
        let r = r.apply(Event::Approve, ts(1)).unwrap();
        assert_eq!(
            (r.state, r.percent().as_f64()),
            (RolloutState::Running, 1.0)
        );
    }

    #[test]
    fn drafts_open_pauses_resume_and_a_break_glass_promotes() {
        let draft = started(Opening::Draft);
        assert_eq!((draft.state, draft.live()), (RolloutState::Draft, None));
        assert!(draft.apply(Event::Advance, ts(1)).is_err());
        let gated = draft
            .apply(
                Event::Open {
                    needs_approval: true,
                },
                ts(1),
            )
            .unwrap();
        assert_eq!(
            (gated.state, gated.pending_step),
            (RolloutState::AwaitingApproval, Some(0))
        );
        let running = draft
            .apply(
                Event::Open {
                    needs_approval: false,
                },
                ts(1),
            )
            .unwrap();
        assert_eq!(
            (running.state, running.percent().as_f64()),
            (RolloutState::Running, 1.0)
        );

        let paused = running
            .apply(
                Event::Pause {
                    reason: "sample-ratio mismatch",
                },
                ts(2),
            )
            .unwrap();
        assert_eq!(
            paused.percent().as_f64(),
            1.0,
            "a pause freezes exposure where it is"
        );
        let err = paused.apply(Event::Advance, ts(3)).unwrap_err();
        assert!(
            err.0.contains("sample-ratio mismatch") && err.0.contains("flagwarden resume 1"),
            "{err}"
        );
        let resumed = paused.apply(Event::Resume, ts(9)).unwrap();
        assert_eq!(
            (
                resumed.state,
                resumed.step_started_at,
                resumed.paused_reason
            ),
            (RolloutState::Running, Some(ts(9)), None)
        );

        let done = paused.apply(Event::ForcePromote, ts(10)).unwrap();
        assert_eq!(
            (done.state, done.percent()),
            (RolloutState::Completed, Percent::FULL)
        );
        assert!(
            done.apply(Event::ForcePromote, ts(11)).is_err(),
            "terminal stays terminal"
        );
    }
}
