//! Status conditions: desired conditions merged into the previous ones, keeping
//! `lastTransitionTime` unless the status really changed. Pure.
//!
//! Writing a fresh timestamp on every reconcile would change status every time and make the
//! controller trigger itself forever; only transitions move the time.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition type: the resource does what it is for.
pub const READY: &str = "Ready";
/// Condition type (network): the genesis is computed and stored.
pub const GENESIS_READY: &str = "GenesisReady";
/// Condition type: running with reduced redundancy.
pub const DEGRADED: &str = "Degraded";
/// Condition type (member): every child is applied from the current spec.
pub const PROVISIONED: &str = "Provisioned";
/// Condition type (member): its validators are part of the network's validator set.
pub const ADMITTED: &str = "Admitted";

/// A condition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// True.
    True,
    /// False.
    False,
    /// Unknown.
    Unknown,
}

impl Status {
    /// As Kubernetes writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }

    /// `True` when `b`, else `False`.
    pub fn from_bool(b: bool) -> Status {
        if b { Status::True } else { Status::False }
    }
}

/// A condition as a reconcile wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// Its type.
    pub type_: &'static str,
    /// Its status.
    pub status: Status,
    /// CamelCase reason, stable for machines.
    pub reason: String,
    /// For people.
    pub message: String,
}

impl Desired {
    /// A desired condition. An empty message becomes the reason: server-side apply on
    /// Kubernetes 1.20 turns an empty string into `null`, which the schema then rejects.
    pub fn new(
        type_: &'static str,
        status: Status,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        Desired {
            type_,
            status,
            reason: reason.to_owned(),
            message: if message.is_empty() {
                reason.to_owned()
            } else {
                message
            },
        }
    }

    /// Whether this status is the good one for its type (`Degraded` is good when False).
    pub fn is_good(&self) -> bool {
        match self.type_ {
            DEGRADED => self.status == Status::False,
            _ => self.status == Status::True,
        }
    }
}

/// A condition whose status or reason changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The condition as it is now.
    pub condition: Desired,
    /// Its previous status, if it existed.
    pub previous: Option<String>,
}

/// Merges `desired` into `old`: conditions not in `desired` are kept as they were; a condition
/// whose status is unchanged keeps its `lastTransitionTime`. Returns the new list (in the order
/// of `desired`, then the kept ones) and the transitions (status or reason changes).
pub fn merge(
    old: &[Condition],
    desired: &[Desired],
    generation: Option<i64>,
    now: &Time,
) -> (Vec<Condition>, Vec<Transition>) {
    let mut out = Vec::with_capacity(desired.len());
    let mut transitions = Vec::new();
    for d in desired {
        let prev = old.iter().find(|c| c.type_ == d.type_);
        let same_status = prev.is_some_and(|p| p.status == d.status.as_str());
        if !same_status || prev.is_some_and(|p| p.reason != d.reason) {
            transitions.push(Transition {
                condition: d.clone(),
                previous: prev.map(|p| p.status.clone()),
            });
        }
        out.push(Condition {
            type_: d.type_.to_owned(),
            status: d.status.as_str().to_owned(),
            reason: d.reason.clone(),
            message: d.message.clone(),
            observed_generation: generation,
            last_transition_time: match prev {
                Some(p) if same_status => p.last_transition_time.clone(),
                _ => now.clone(),
            },
        });
    }
    for c in old {
        if !desired.iter().any(|d| d.type_ == c.type_) {
            out.push(c.clone());
        }
    }
    (out, transitions)
}

/// The condition of a type, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of a type is present and `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn t(s: i64) -> Time {
        Time(Timestamp::from_second(s).unwrap())
    }

    #[test]
    fn transition_time_moves_only_on_status_changes() {
        let d1 = [Desired::new(READY, Status::False, "Waiting", "a")];
        let (c1, tr1) = merge(&[], &d1, Some(1), &t(100));
        assert_eq!(tr1.len(), 1);
        assert_eq!(c1[0].last_transition_time, t(100));

        // Same status, new message and generation: time kept, no transition.
        let d2 = [Desired::new(READY, Status::False, "Waiting", "b")];
        let (c2, tr2) = merge(&c1, &d2, Some(2), &t(200));
        assert!(tr2.is_empty());
        assert_eq!(c2[0].last_transition_time, t(100));
        assert_eq!(c2[0].observed_generation, Some(2));
        assert_eq!(c2[0].message, "b");

        // Same status, new reason: a transition for events, time kept.
        let d3 = [Desired::new(READY, Status::False, "Other", "b")];
        let (c3, tr3) = merge(&c2, &d3, Some(2), &t(300));
        assert_eq!(tr3.len(), 1);
        assert_eq!(c3[0].last_transition_time, t(100));

        let d4 = [Desired::new(READY, Status::True, "Ok", "")];
        let (c4, tr4) = merge(&c3, &d4, Some(2), &t(400));
        assert_eq!(tr4[0].previous.as_deref(), Some("False"));
        assert_eq!(c4[0].last_transition_time, t(400));
        assert!(is_true(&c4, READY));
    }

    #[test]
    fn goodness_depends_on_the_type() {
        assert!(Desired::new(DEGRADED, Status::False, "x", "").is_good());
        assert!(!Desired::new(DEGRADED, Status::True, "x", "").is_good());
        assert!(Desired::new(READY, Status::True, "x", "").is_good());
    }
}
