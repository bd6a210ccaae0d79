//! Approvals: the list of requests waiting for a human, and the human side of one: `approve` (enough
//! humans, and the start, step or rollback takes effect) and `reject` (a start is aborted, a step
//! stays, a proposed rollback is dismissed). `answer_in_client` is an answer given in the agent's own
//! MCP client: `decide` judges it by the environment's `confirm_in_client` level, and it either
//! decides the approval as the person at that client or is recorded as a refused attempt that
//! leaves the approval waiting.

use jiff::SignedDuration;
use serde_json::json;

use super::*;
use crate::domain::approval::Approval;
use crate::domain::bucket::Percent;
use crate::domain::policy::{Action, ClientAnswer, Exposure, decide};
use crate::domain::rollout::Event;

impl Tx<'_> {
    /// A pending approval that the acting human may decide.
    fn pending_approval(&self, id: i64) -> Result<Approval> {
        if !matches!(self.actor, Actor::Human(_)) {
            return Err(AppError::Conflict(
                "only a human can approve or reject".into(),
            ));
        }
        pending(self.conn, id)
    }
}

/// Approval `id`, if it exists and still waits for a decision.
fn pending(conn: &rusqlite::Connection, id: i64) -> Result<Approval> {
    let a = store::approval(conn, id)?.ok_or_else(|| {
        AppError::NotFound(format!(
            "approval {id} does not exist; `flagwarden approvals` lists them"
        ))
    })?;
    if a.status != "pending" {
        return Err(AppError::Conflict(format!(
            "approval {id} is already {}",
            a.status
        )));
    }
    Ok(a)
}

impl App {
    pub fn list_approvals(&self, q: &ListApprovals) -> Result<ApprovalList> {
        let status = q.status.as_deref().unwrap_or("pending");
        let filter = match status {
            "all" => None,
            "pending" | "approved" | "rejected" | "superseded" => Some(status),
            other => {
                return Err(invalid(
                    "status",
                    format!(
                        "unknown status {other:?}: use pending, approved, rejected, superseded or all"
                    ),
                ));
            }
        };
        self.read(|conn, _| {
            Ok(ApprovalList {
                approvals: store::approvals(conn, filter, 200)?,
                how_to_decide: "a human runs `flagwarden approve ID` or `flagwarden reject ID --reason TEXT`; agents cannot approve".into(),
            })
        })
    }

    /// A human approves a pending request; when enough humans have, it takes effect.
    pub fn approve(
        &self,
        human: &Actor,
        id: i64,
        reason: &str,
        via: Channel,
    ) -> Result<ApprovalDecision> {
        self.approve_from(human, id, reason, via, None)
    }

    fn approve_from(
        &self,
        human: &Actor,
        id: i64,
        reason: &str,
        via: Channel,
        client: Option<&ClientSeen>,
    ) -> Result<ApprovalDecision> {
        let args = decision_args(id, reason, via, client, ClientAnswer::Approve);
        self.mutate(human, "approve", &args, &Meta::because(reason), |tx| {
            let mut a = tx.pending_approval(id)?;
            let me = tx.actor.name().to_owned();
            if a.approved_by.contains(&me) {
                return Err(AppError::Conflict(format!(
                    "{me} already approved {id}; it needs {} approval(s) from different humans",
                    a.approvals_needed
                ))
                .into());
            }
            let mut flag = tx.flag(&a.flag)?;
            let rollout = match a.rollout_id {
                Some(rid) => store::rollout(tx.conn, rid)?,
                None => None,
            };
            let mut audit = Audit {
                flag: Some(a.flag.clone()),
                env: Some(a.env.clone()),
                rollout_id: a.rollout_id,
                approval_id: Some(id),
                before: state(&a),
                ..Audit::default()
            };
            if a.kind == "follow_up" {
                return close_follow_up(tx, a, audit, reason, via);
            }
            // Approving does not lift freezes: an approved step still waits for the window.
            if a.kind != "rollback" {
                let r = rollout
                    .as_ref()
                    .ok_or_else(|| AppError::Conflict(format!("approval {id} has no rollout")))?;
                let to = a
                    .target_percent
                    .and_then(|p| Percent::from_percent(p).ok())
                    .unwrap_or(Percent::FULL);
                let action = Action::AdvanceCanary {
                    env: &a.env,
                    from: r.percent(),
                    to,
                    dwell: SignedDuration::MAX,
                };
                let usage = tx.usage(&a.env, Some(r))?;
                let d = decide(tx.policy, tx.actor, &action, &usage, tx.now);
                if let Decision::Deny { .. } = d {
                    audit.decision = Some(d.clone());
                    return tx.refuse(audit, &d);
                }
            }
            a.approved_by.push(me.clone());
            let executed = a.approved_by.len() as u32 >= a.approvals_needed;
            let summary = if !executed {
                format!(
                    "approval {id}: {} of {} humans approved",
                    a.approved_by.len(),
                    a.approvals_needed
                )
            } else {
                a.status = "approved".into();
                a.decided_by = Some(me.clone());
                a.decided_at = Some(store::ts_text(tx.now));
                a.decision_reason = (!reason.is_empty()).then(|| reason.to_owned());
                a.decided_via = Some(via.as_str().into());
                match a.kind.as_str() {
                    "rollback" => {
                        tx.roll_back(&mut flag, &a.env, rollout.as_ref())?;
                        format!(
                            "rolled back {} in {}: everyone gets {:?}",
                            a.flag,
                            a.env,
                            flag.envs[&a.env].pinned_variant.clone().unwrap_or_default()
                        )
                    }
                    _ => {
                        let r = rollout.as_ref().expect("checked above");
                        let mut next = r
                            .apply(Event::Approve, tx.now)
                            .map_err(|e| AppError::Conflict(e.0))?;
                        // The approved step of a shadow run is its turn into a live canary.
                        if a.kind == "advance_canary"
                            && r.analysis.mode == crate::domain::mode::Mode::Shadow
                        {
                            next = super::shadow::converted(&next, tx.now);
                        }
                        store::save_rollout(tx.conn, &next)?;
                        tx.expose(&mut flag, &next)?;
                        tx.bump(&mut flag)?;
                        tx.mirror(r, Event::Approve)?;
                        format!(
                            "approved: rollout {} of {} in {} now serves {:?} to {}",
                            next.id,
                            a.flag,
                            a.env,
                            next.candidate,
                            next.percent()
                        )
                    }
                }
            };
            store::update_approval(tx.conn, &a)?;
            audit.after = state(&a);
            audit.decision = Some(Decision::Allow);
            Ok(Done {
                output: ApprovalDecision {
                    approval: a,
                    executed,
                    summary,
                },
                audit,
            })
        })
    }

    /// A human rejects a pending request: a start is aborted, a step stays where it was, a proposed
    /// rollback is dismissed and the rollout runs on.
    pub fn reject(
        &self,
        human: &Actor,
        id: i64,
        reason: &str,
        via: Channel,
    ) -> Result<ApprovalDecision> {
        self.reject_from(human, id, reason, via, None)
    }

    fn reject_from(
        &self,
        human: &Actor,
        id: i64,
        reason: &str,
        via: Channel,
        client: Option<&ClientSeen>,
    ) -> Result<ApprovalDecision> {
        if reason.trim().is_empty() {
            return Err(invalid(
                "reason",
                "say why you reject it; the agent reads this",
            ));
        }
        let args = decision_args(id, reason, via, client, ClientAnswer::Reject);
        self.mutate(human, "reject", &args, &Meta::because(reason), |tx| {
            let mut a = tx.pending_approval(id)?;
            if a.kind == "follow_up" {
                return Err(AppError::Conflict(format!(
                    "follow-up review #{id} cannot be rejected: a second person closes it with `flagwarden approve {id} --reason NOTE` once the emergency change is reviewed"
                ))
                .into());
            }
            let mut flag = tx.flag(&a.flag)?;
            if let Some(r) = a
                .rollout_id
                .map(|rid| store::rollout(tx.conn, rid))
                .transpose()?
                .flatten()
            {
                let event = if a.kind == "rollback" {
                    Event::DismissRollback
                } else {
                    Event::Reject
                };
                let next = r
                    .apply(event, tx.now)
                    .map_err(|e| AppError::Conflict(e.0))?;
                store::save_rollout(tx.conn, &next)?;
                tx.bump(&mut flag)?;
                tx.mirror(&r, event)?;
            }
            a.status = "rejected".into();
            a.decided_by = Some(tx.actor.name().to_owned());
            a.decided_at = Some(store::ts_text(tx.now));
            a.decision_reason = Some(reason.to_owned());
            a.decided_via = Some(via.as_str().into());
            store::update_approval(tx.conn, &a)?;
            let audit = Audit {
                flag: Some(a.flag.clone()),
                env: Some(a.env.clone()),
                rollout_id: a.rollout_id,
                approval_id: Some(id),
                after: state(&a),
                decision: Some(Decision::Allow),
                ..Audit::default()
            };
            let summary = format!(
                "rejected approval {id} ({} of {} in {})",
                a.kind, a.flag, a.env
            );
            Ok(Done {
                output: ApprovalDecision {
                    approval: a,
                    executed: false,
                    summary,
                },
                audit,
            })
        })
    }

    /// An answer given in the agent's own client to a pending approval. `decide` says whether it
    /// counts (the environment's `confirm_in_client` level, by what deciding would do to exposure);
    /// when it does, the person at that client decides the approval on the elicitation channel, and
    /// when it does not, the attempt is recorded as refused and the approval keeps waiting.
    pub fn answer_in_client(
        &self,
        agent: &Actor,
        client: &ClientSeen,
        id: i64,
        answer: ClientAnswer,
        reason: &str,
    ) -> Result<ApprovalDecision> {
        let a = self.read(|conn, _| pending(conn, id))?;
        let effect = Exposure::of(&a.kind, answer == ClientAnswer::Approve);
        let action = Action::AnswerInClient {
            env: &a.env,
            approval_id: id,
            answer,
            effect,
        };
        let d = decide(
            &self.policy.policy,
            agent,
            &action,
            &Default::default(),
            self.now(),
        );
        if d == Decision::Allow {
            let human = Actor::Human(format!("person at {}'s client", agent.name()));
            return match answer {
                ClientAnswer::Approve => {
                    self.approve_from(&human, id, reason, Channel::Elicitation, Some(client))
                }
                _ => self.reject_from(&human, id, reason, Channel::Elicitation, Some(client)),
            };
        }
        // Decided nothing: the attempt is recorded like any other refusal, by the agent's client.
        let args = decision_args(id, reason, Channel::Elicitation, Some(client), answer);
        self.mutate(
            agent,
            "answer_in_client",
            &args,
            &Meta::because(reason),
            |tx| {
                let audit = Audit {
                    flag: Some(a.flag.clone()),
                    env: Some(a.env.clone()),
                    rollout_id: a.rollout_id,
                    approval_id: Some(id),
                    before: state(&a),
                    decision: Some(d.clone()),
                    ..Audit::default()
                };
                tx.refuse::<ApprovalDecision>(audit, &d)
            },
        )
    }

    /// The answers given in agents' clients that decided nothing, for the approvals still waiting.
    pub fn client_answers_without_effect(&self) -> Result<Vec<ClientAnswered>> {
        self.read(|conn, _| {
            let mut out = Vec::new();
            for a in store::approvals(conn, Some("pending"), 200)? {
                for e in store::approval_events(conn, a.id, "answer_in_client")? {
                    let args: serde_json::Value = serde_json::from_str(&e.args).unwrap_or_default();
                    let text = |k: &str| args[k].as_str().unwrap_or("unknown").to_owned();
                    out.push(ClientAnswered {
                        approval_id: a.id,
                        client: ClientSeen {
                            name: args["client"]["name"].as_str().unwrap_or("unknown").into(),
                            version: args["client"]["version"]
                                .as_str()
                                .unwrap_or("unknown")
                                .into(),
                        },
                        answer: text("answer"),
                        rule: e.rule,
                        at: e.ts,
                    });
                }
            }
            Ok(out)
        })
    }
}

/// What an approve, a reject or an in-client answer records as its arguments: the channel, and for
/// an answer in the agent's client the client's name and version and what it answered.
fn decision_args(
    id: i64,
    reason: &str,
    via: Channel,
    client: Option<&ClientSeen>,
    answer: ClientAnswer,
) -> serde_json::Value {
    match client {
        None => json!({"id": id, "reason": reason, "via": via}),
        Some(c) => json!({
            "id": id,
            "reason": reason,
            "via": via,
            "client": c,
            "answer": answer,
        }),
    }
}

/// Closing an emergency's follow-up review: a person other than the one who broke the glass, at the
/// CLI or with a human token (never in an agent's client), with a note saying what was reviewed.
fn close_follow_up(
    tx: &mut Tx,
    mut a: Approval,
    mut audit: Audit,
    note: &str,
    via: Channel,
) -> Step<ApprovalDecision> {
    let me = tx.actor.name().to_owned();
    let opener = a
        .requested_by
        .strip_prefix("human:")
        .unwrap_or(&a.requested_by)
        .to_owned();
    let refuse = |tx: &Tx, audit: Audit, rule: &str, message: String| {
        let d = Decision::Deny {
            rule: rule.into(),
            message,
        };
        let mut audit = audit;
        audit.decision = Some(d.clone());
        tx.refuse(audit, &d)
    };
    if via == Channel::Elicitation {
        return refuse(
            tx,
            audit,
            "follow_up.channel",
            format!(
                "follow-up review #{} is closed by a person at the CLI (`flagwarden approve {} --reason NOTE`) or with a human token, not in an agent's client",
                a.id, a.id
            ),
        );
    }
    if me == opener {
        return refuse(
            tx,
            audit,
            "follow_up.second_person",
            format!(
                "{me} broke the glass, so a second person closes follow-up review #{}: ask a colleague to run `flagwarden approve {} --reason NOTE`",
                a.id, a.id
            ),
        );
    }
    if note.trim().is_empty() {
        return Err(invalid(
            "reason",
            "closing a follow-up review needs a note: what was reviewed and what follows",
        )
        .into());
    }
    a.approved_by.push(me.clone());
    a.status = "approved".into();
    a.decided_by = Some(me.clone());
    a.decided_at = Some(store::ts_text(tx.now));
    a.decision_reason = Some(note.to_owned());
    a.decided_via = Some(via.as_str().into());
    store::update_approval(tx.conn, &a)?;
    audit.after = state(&a);
    audit.decision = Some(Decision::Allow);
    let summary = format!(
        "follow-up review #{} of the emergency change to {} in {} closed by {me}: {note}",
        a.id, a.flag, a.env
    );
    Ok(Done {
        output: ApprovalDecision {
            approval: a,
            executed: true,
            summary,
        },
        audit,
    })
}
