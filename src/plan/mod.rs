//! Plans: the difference between what the configuration declares and what state and the live
//! systems hold, as a list of actions per resource instance, drift found by refresh, and
//! output changes. Computing a plan does no I/O itself: the engine refreshes through
//! providers first and hands the results in. Renderers turn a plan into the human, JSON and
//! markdown forms.

pub mod cost;
pub mod diff;
pub use crate::mirror::estimate;
pub mod render;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::config::evaluate::ResourceAddress;
use crate::config::value::Value;
use crate::state::StateStamp;

/// What happens to one resource instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    NoOp,
    Create,
    /// A data source read during apply (its arguments were unknown at plan time).
    Read,
    Update,
    /// Replace: the old object is deleted first (the default).
    DeleteThenCreate,
    /// Replace with `create_before_destroy`.
    CreateThenDelete,
    Delete,
    /// An assertion (`assert.NAME`) run during apply: its checks are polled until they hold
    /// or time out, and what depends on it waits for it. Changes nothing.
    Check,
}

impl Action {
    /// Terraform's `change.actions` list.
    pub fn terraform_actions(self) -> &'static [&'static str] {
        match self {
            Action::NoOp => &["no-op"],
            Action::Create => &["create"],
            Action::Read => &["read"],
            Action::Update => &["update"],
            Action::DeleteThenCreate => &["delete", "create"],
            Action::CreateThenDelete => &["create", "delete"],
            Action::Delete => &["delete"],
            Action::Check => &["check"],
        }
    }

    /// The symbol in the human plan: `+`, `~`, `-`, `-/+`, `+/-`, `<=`.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Read => "<=",
            Action::Update => "~",
            Action::DeleteThenCreate => "-/+",
            Action::CreateThenDelete => "+/-",
            Action::Delete => "-",
            Action::Check => "?",
        }
    }

    pub fn is_replace(self) -> bool {
        matches!(self, Action::DeleteThenCreate | Action::CreateThenDelete)
    }

    pub fn destroys(self) -> bool {
        matches!(
            self,
            Action::Delete | Action::DeleteThenCreate | Action::CreateThenDelete
        )
    }
}

/// Why an action was chosen, when the attribute diff alone does not say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeReason {
    /// In state, no longer in configuration.
    NotInConfiguration,
    /// Refresh found the object gone; it will be created again.
    DeletedOutsideCutover,
    /// An argument that cannot change in place changed.
    ReplaceBecauseOf(Vec<String>),
    /// `destroy` or `-destroy`.
    DestroyRequested,
    /// A data source read during apply because something it depends on changes in the plan.
    DependencyPending,
}

/// The planned change of one resource or data source instance.
#[derive(Debug, Clone)]
pub struct ResourceChange {
    pub address: ResourceAddress,
    pub provider: String,
    pub action: Action,
    /// The refreshed prior attributes (marks kept), `None` when creating.
    pub before: Option<Value>,
    /// The planned attributes (unknown and sensitive marks kept), `None` when deleting.
    pub after: Option<Value>,
    pub reason: Option<ChangeReason>,
    /// The id given by an `import` block or `cutover import`, when the change adopts an
    /// existing object.
    pub importing: Option<String>,
    /// Objects this instance depends on (module-qualified labels, e.g. `cutover_data.a`).
    pub dependencies: BTreeSet<String>,
    pub prevent_destroy: bool,
    pub create_before_destroy: bool,
    /// What applying will copy (an embedded mirror's records, bytes and time), measured at
    /// plan time; shown, not part of what a saved plan must still match.
    pub copy_estimate: Option<estimate::CopyEstimate>,
}

/// An object whose live attributes differ from what state recorded.
#[derive(Debug, Clone)]
pub struct Drift {
    pub address: ResourceAddress,
    pub before: Value,
    /// `None` when the object was deleted outside cutover.
    pub after: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct OutputChange {
    pub name: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub sensitive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanMode {
    Normal,
    Destroy,
    RefreshOnly,
}

/// A whole plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: PlanMode,
    pub changes: Vec<ResourceChange>,
    pub drift: Vec<Drift>,
    pub outputs: Vec<OutputChange>,
    /// The state the plan was made against (`None`: no state existed).
    pub prior_state: Option<StateStamp>,
    /// `-target` addresses, when the plan was limited to them.
    pub targets: Vec<String>,
    /// The cost and sizing section (EC2 fleet, MSK target, mirror, measured traffic), when the
    /// plan has any of them; shown, not part of what a saved plan must still match.
    pub economics: Option<cost::Economics>,
}

/// `Plan: N to add, N to change, N to destroy.` (imports counted apart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub import: usize,
    pub read: usize,
    /// Assertions to check (not counted as changes).
    #[serde(skip_serializing_if = "is_zero")]
    pub check: usize,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

impl Plan {
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for change in &self.changes {
            if change.importing.is_some() {
                counts.import += 1;
            }
            match change.action {
                Action::NoOp => {}
                Action::Read => counts.read += 1,
                Action::Check => counts.check += 1,
                Action::Create => counts.add += 1,
                Action::Update => counts.change += 1,
                Action::Delete => counts.destroy += 1,
                Action::DeleteThenCreate | Action::CreateThenDelete => {
                    counts.add += 1;
                    counts.destroy += 1;
                }
            }
        }
        counts
    }

    /// Whether applying the plan would change anything (resources, outputs, or accepting
    /// drift in a refresh-only plan).
    pub fn has_changes(&self) -> bool {
        // Assertions change nothing: a plan of only assertions is a plan without changes
        // (`cutover verify` runs them).
        let resources = self.changes.iter().any(|change| {
            !matches!(change.action, Action::NoOp | Action::Check) || change.importing.is_some()
        });
        let outputs = self.outputs.iter().any(|output| {
            output.before.as_ref() != output.after.as_ref()
                || output.before.as_ref().is_some_and(|v| !v.is_wholly_known())
        });
        match self.mode {
            PlanMode::RefreshOnly => !self.drift.is_empty() || outputs,
            _ => resources || outputs,
        }
    }
}
