//! What changed since the rules last ran, gathered over any number of applied changes, so that
//! the next run redoes only what those changes can affect.

use rustc_hash::{FxHashMap, FxHashSet};

use super::{Changes, RuleCache, check_incremental};
use crate::diagnostic::Diagnostic;
use crate::graph::{FileId, Module};
use crate::workspace::{ApplyResult, FileChange, Workspace};

pub struct PendingChanges {
    modules: FxHashSet<FileId>,
    /// The first state seen of each changed module: as it was at the last run.
    previous: FxHashMap<FileId, Option<Module>>,
    structure: bool,
    files_changed: bool,
    /// Everything must run again (no run yet, manifests, a rebuild, new rule levels).
    everything: bool,
}

impl Default for PendingChanges {
    fn default() -> Self {
        Self {
            modules: FxHashSet::default(),
            previous: FxHashMap::default(),
            structure: true,
            files_changed: false,
            everything: true,
        }
    }
}

impl PendingChanges {
    /// Records one change applied to the workspace. `was_loaded`: its path was a loaded module
    /// before the change.
    pub fn record(&mut self, change: &FileChange, was_loaded: bool, result: ApplyResult) {
        let (FileChange::Changed(path) | FileChange::Created(path) | FileChange::Deleted(path)) =
            change;
        self.structure |= result.structure;
        // Manifests and configuration change how everything resolves.
        if result.rebuilt || Workspace::resets_resolution(path) {
            self.everything = true;
            return;
        }
        let content_only = matches!(change, FileChange::Changed(_)) && was_loaded && path.exists();
        // Files appeared or disappeared: fixes that name files may change anywhere.
        self.files_changed |= !content_only;
        self.modules.extend(result.changed);
        for (id, before) in result.previous {
            self.previous.entry(id).or_insert(before);
        }
    }

    /// The next run redoes everything.
    pub fn run_everything(&mut self) {
        self.everything = true;
    }

    /// Nothing to redo.
    pub fn is_empty(&self) -> bool {
        !self.everything && self.modules.is_empty()
    }

    /// Runs the rules for what changed (with `cache` from the earlier runs) and starts over.
    /// Returns every current diagnostic, sorted.
    pub fn run(&mut self, workspace: &Workspace, cache: &mut RuleCache) -> Vec<Diagnostic> {
        let pending = std::mem::replace(
            self,
            Self {
                structure: false,
                everything: false,
                ..Self::default()
            },
        );
        check_incremental(
            workspace,
            cache,
            (!pending.everything).then_some(Changes {
                modules: &pending.modules,
                structure: pending.structure,
                previous: &pending.previous,
                files_changed: pending.files_changed,
            }),
        )
    }
}
