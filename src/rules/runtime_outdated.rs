//! `stale-import/runtime-outdated`: an attached Node process runs an older version of a module
//! than the editor or the disk has.
//!
//! A running process keeps what it evaluated: editing a file changes nothing inside it until the
//! module and everything that imported it are evaluated again. The facts come from the runtime
//! agents the language server is attached to, so `modgraph check` (which attaches to nothing)
//! never reports this. Shown on the module, on the import sites that load it, and, when the last
//! reload failed, at the failing location. Silent for files whose current content cannot be read.

use std::path::Path;

use super::{Rule, RuleMeta};
use crate::diagnostic::{Diagnostic, Location, Severity};
use crate::extract::Span;
use crate::runtime::facts::RuntimeFacts;
use crate::workspace::Workspace;

pub struct RuntimeOutdated;

pub const CODE: &str = "stale-import/runtime-outdated";

pub(super) static META: RuleMeta = RuleMeta {
    code: CODE,
    default_severity: Some(Severity::Warning),
    summary: "An attached Node process runs an older version of this module; reload the subgraph.",
};

impl Rule for RuntimeOutdated {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
    // No static facts: the diagnostics come from `diagnostics` with what the processes report.
}

fn processes(pids: &[(u32, &str)]) -> String {
    match pids {
        [(pid, label)] => format!("node process {pid} (`{label}`)"),
        _ => {
            let list: Vec<String> = pids.iter().map(|(pid, _)| pid.to_string()).collect();
            format!("node processes {}", list.join(", "))
        }
    }
}

/// Diagnostics for what the attached processes hold. `current_hash` gives the content hash of a
/// file as the editor sees it; `offset_of` turns a 1-based line and column into a byte offset.
pub fn diagnostics(
    workspace: &Workspace,
    facts: &RuntimeFacts,
    current_hash: &mut dyn FnMut(&Path) -> Option<String>,
    offset_of: &mut dyn FnMut(&Path, u32, u32) -> Option<u32>,
) -> Vec<Diagnostic> {
    let Some(severity) = workspace
        .config()
        .severity(META.code, META.default_severity)
    else {
        return Vec::new();
    };
    let graph = workspace.graph();
    let mut out = Vec::new();
    // Outdated workspace modules, with the processes that hold an old version.
    let mut outdated: std::collections::BTreeMap<crate::graph::FileId, Vec<(u32, &str)>> =
        Default::default();
    for runtime in facts.runtimes.values() {
        for (path, loaded) in &runtime.modules {
            let Some(id) = graph.id(path) else { continue };
            if !graph.module(id).is_some_and(|m| m.is_workspace()) {
                continue;
            }
            if current_hash(path).is_some_and(|now| now != *loaded) {
                outdated
                    .entry(id)
                    .or_default()
                    .push((runtime.pid, &runtime.label));
            }
        }
    }
    for (&id, pids) in &outdated {
        out.push(Diagnostic {
            code: META.code,
            severity,
            location: Location {
                file: id,
                span: Span { start: 0, end: 0 },
            },
            message: format!(
                "{} runs an older version of this module: reload the subgraph to run this code",
                processes(pids)
            ),
            related: Vec::new(),
            fixes: Vec::new(),
        });
        for &importer in graph.importers(id) {
            let Some(module) = graph.module(importer) else {
                continue;
            };
            if !module.is_workspace() {
                continue;
            }
            for (edge, site) in module.runtime_edges() {
                if edge.target.module() != Some(id) {
                    continue;
                }
                out.push(Diagnostic {
                    code: META.code,
                    severity,
                    location: Location {
                        file: importer,
                        span: site.span,
                    },
                    message: format!(
                        "`{}` loads {}, which {} runs in an older version",
                        site.specifier,
                        graph
                            .path(id)
                            .file_name()
                            .map(|n| n.to_string_lossy())
                            .unwrap_or_default(),
                        processes(pids)
                    ),
                    related: Vec::new(),
                    fixes: Vec::new(),
                });
            }
        }
    }
    // A failed reload, at its location, until a reload succeeds.
    for runtime in facts.runtimes.values() {
        let Some(error) = &runtime.last_error else {
            continue;
        };
        let (Some(file), Some(line)) = (&error.file, error.line) else {
            continue;
        };
        let Some(id) = graph.id(file) else { continue };
        let Some(start) = offset_of(file, line, error.column.unwrap_or(1)) else {
            continue;
        };
        let message = error.message.lines().next().unwrap_or("");
        out.push(Diagnostic {
            code: META.code,
            severity: Severity::Error,
            location: Location {
                file: id,
                span: Span { start, end: start },
            },
            message: format!(
                "reloading failed in {}: {}: {message}; the process keeps running the old code",
                processes(&[(runtime.pid, &runtime.label)]),
                if error.name.is_empty() {
                    "Error"
                } else {
                    &error.name
                }
            ),
            related: Vec::new(),
            fixes: Vec::new(),
        });
    }
    out
}
