//! Coordinated releases: the members of a release group (`start_canary` with `group`) move as one.
//! They share one bucketing salt (the same units are in the canary arm of every member), take each
//! step together, and any member's harm holds or rolls back the whole group. Every use case acts on
//! one member, the one the caller named; what happens to it happens to its siblings here, in the
//! same transaction and under the same audit event: `mirror` repeats a transition on every sibling,
//! `roll_back_group` flips every sibling to its last-known-good beside the named member.

use super::*;
use crate::domain::rollout::{Event, Rollout};

impl Tx<'_> {
    /// The other unfinished members of `r`'s release group, oldest first (none outside a group).
    pub(super) fn siblings(&self, r: &Rollout) -> Result<Vec<Rollout>> {
        let Some(group) = &r.analysis.group else {
            return Ok(Vec::new());
        };
        Ok(store::group_rollouts(self.conn, group, &r.env)?
            .into_iter()
            .filter(|s| s.id != r.id)
            .collect())
    }

    /// Repeats `event` on every sibling of `r`, with what it does to serving: an opening or an
    /// approval exposes the sibling, completing makes its candidate the environment's default.
    pub(super) fn mirror(&self, r: &Rollout, event: Event) -> Result<Vec<Rollout>> {
        let mut out = Vec::new();
        for s in self.siblings(r)? {
            // What only reduces or freezes exposure never fails for a member already past it.
            let reduces = matches!(
                event,
                Event::ProposeRollback | Event::Pause { .. } | Event::Resume
            );
            if reduces && s.apply(event, self.now).is_err() {
                continue;
            }
            let next = s.apply(event, self.now).map_err(|e| {
                AppError::Conflict(format!(
                    "release group {:?} moves together, but member {}: {}",
                    r.analysis.group.as_deref().unwrap_or_default(),
                    s.flag,
                    e.0
                ))
            })?;
            let mut flag = self.flag(&s.flag).map_err(failure_error)?;
            match event {
                Event::Approve
                | Event::Open {
                    needs_approval: false,
                } => self.expose(&mut flag, &next)?,
                Event::Complete | Event::ForcePromote => {
                    let st = flag.envs.get_mut(&s.env).expect("declared");
                    st.default_variant = next.candidate.clone();
                    st.pinned_variant = None;
                    st.updated_at = self.now;
                    store::upsert_env(self.conn, flag.key.as_str(), &s.env, st)?;
                }
                _ => {}
            }
            store::save_rollout(self.conn, &next)?;
            self.bump(&mut flag)?;
            out.push(next);
        }
        Ok(out)
    }

    /// Rolls back every sibling of `r` (the pointer flip to each one's last-known-good), in this
    /// transaction: the caller's audit event is the group's one event.
    pub(super) fn roll_back_group(&self, r: &Rollout) -> Result<Vec<Rollout>> {
        let mut out = Vec::new();
        for s in self.siblings(r)? {
            let mut flag = self.flag(&s.flag).map_err(failure_error)?;
            let env = s.env.clone();
            if let Some(done) = self.roll_back_one(&mut flag, &env, Some(&s))? {
                out.push(done);
            }
        }
        Ok(out)
    }
}

/// A failure that is not a policy refusal, as the app error it carries.
fn failure_error(f: Failure) -> AppError {
    match f {
        Failure::Error(e) => e,
        Failure::Refused(r) => AppError::Conflict(r.message),
    }
}
