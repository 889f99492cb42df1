//! `module-graph/import-cycle` (off by default; a hint when enabled): runtime import cycles
//! among workspace modules.
//!
//! In a cycle one module runs before its imports have finished evaluating: bindings are in the
//! temporal dead zone (ESM) or `exports` is half-filled (CommonJS). A cycle also reloads as one
//! unit. Type-only imports do not count.

use std::collections::VecDeque;

use rustc_hash::{FxHashMap, FxHashSet};

use super::{Rule, RuleContext, RuleMeta};
use crate::diagnostic::{Diagnostic, Severity};
use crate::graph::{FileId, strongly_connected_components};

pub struct ImportCycle;

static META: RuleMeta = RuleMeta {
    code: "module-graph/import-cycle",
    default_severity: None,
    summary: "A runtime import cycle among workspace modules.",
};

/// Shortest path from `from` to `to` inside `members`.
fn path_within(
    ctx: &RuleContext,
    members: &FxHashSet<FileId>,
    from: FileId,
    to: FileId,
) -> Vec<FileId> {
    let mut parent: FxHashMap<FileId, FileId> = FxHashMap::default();
    let mut queue = VecDeque::from([from]);
    let mut seen = FxHashSet::from_iter([from]);
    while let Some(id) = queue.pop_front() {
        if id == to {
            break;
        }
        for (edge, _) in ctx.runtime_edges(id) {
            let Some(next) = edge.target.module() else {
                continue;
            };
            if members.contains(&next) && seen.insert(next) {
                parent.insert(next, id);
                queue.push_back(next);
            }
        }
    }
    let mut path = vec![to];
    let mut current = to;
    while let Some(&p) = parent.get(&current) {
        path.push(p);
        current = p;
    }
    path.reverse();
    path
}

impl Rule for ImportCycle {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_graph(&self, ctx: &RuleContext, out: &mut Vec<Diagnostic>) {
        let nodes = ctx.sorted_workspace_modules();
        let workspace: FxHashSet<FileId> = nodes.iter().copied().collect();
        let components = strongly_connected_components(ctx.whole_graph(), &nodes, |_, to| {
            workspace.contains(&to)
        });
        for component in components {
            let members: FxHashSet<FileId> = component.iter().copied().collect();
            for &id in &component {
                for (edge, site) in ctx.runtime_edges(id) {
                    let Some(target) = edge.target.module() else {
                        continue;
                    };
                    if !members.contains(&target) {
                        continue;
                    }
                    let mut cycle = vec![id];
                    cycle.extend(path_within(ctx, &members, target, id));
                    let names: Vec<String> = cycle.iter().map(|m| ctx.display(*m)).collect();
                    out.push(ctx.diagnostic(
                        META.code,
                        Severity::Hint,
                        id,
                        site.span,
                        format!(
                            "import cycle: {}. One of these modules runs before its imports finish evaluating, and the cycle reloads as one unit.",
                            names.join(" → ")
                        ),
                    ));
                }
            }
        }
    }
}
