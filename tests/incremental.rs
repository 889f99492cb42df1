//! Property: any sequence of edits, creates, deletes and renames applied through
//! `Workspace::apply` leaves the graph and the diagnostics equal to a fresh build of the final
//! disk state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use modgraph::graph::Target;
use modgraph::workspace::{FileChange, Workspace};
use proptest::prelude::*;
use support::project::{FILES, LINES, Op, content, op, write};

mod support;

/// A comparable picture: every module reachable from the workspace with its edges, and the
/// diagnostics, all by path.
fn picture(ws: &Workspace, root: &Path) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let graph = ws.graph();
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let mut modules = BTreeMap::new();
    for id in graph.reachable_from_workspace() {
        let Some(module) = graph.module(id) else {
            continue;
        };
        let edges = module
            .edges
            .iter()
            .map(|e| {
                let site = module.site(e);
                let target = match &e.target {
                    Target::Module(t) => rel(graph.path(*t)),
                    Target::CaseMismatch {
                        corrected, file, ..
                    } => format!("case {corrected} {}", rel(graph.path(*file))),
                    other => format!("{other:?}"),
                };
                format!("{:?} {} -> {target}", site.kind, site.specifier)
            })
            .collect();
        modules.insert(
            format!(
                "{} {:?} {:?}",
                rel(graph.path(id)),
                module.origin,
                module.format
            ),
            edges,
        );
    }
    let diagnostics = modgraph::rules::check(ws)
        .iter()
        .map(|d| {
            format!(
                "{} {} {:?} {}",
                rel(graph.path(d.location.file)),
                d.code,
                d.location.span,
                d.message
            )
        })
        .collect();
    (modules, diagnostics)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: support::project::cases(96), ..ProptestConfig::default() })]

    #[test]
    fn incremental_graph_equals_fresh_build(
        initial in prop::collection::vec((0..FILES.len(), prop::collection::vec(0..LINES.len(), 0..6)), 1..6),
        ops in prop::collection::vec(op(), 1..10),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root: PathBuf = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
        for (f, lines) in &initial {
            write(&root, FILES[*f], &content(FILES[*f], lines));
        }
        let mut ws = Workspace::open(std::slice::from_ref(&root)).expect("workspace opens");
        for op in &ops {
            match op {
                Op::Write(f, lines) => {
                    let path = root.join(FILES[*f]);
                    let existed = path.exists();
                    write(&root, FILES[*f], &content(FILES[*f], lines));
                    ws.apply(if existed { FileChange::Changed(path) } else { FileChange::Created(path) });
                }
                Op::Delete(f) => {
                    let path = root.join(FILES[*f]);
                    if path.exists() {
                        std::fs::remove_file(&path).expect("delete");
                        ws.apply(FileChange::Deleted(path));
                    }
                }
                Op::Rename(a, b) => {
                    let (from, to) = (root.join(FILES[*a]), root.join(FILES[*b]));
                    if from.exists() && a != b {
                        let existed = to.exists();
                        std::fs::create_dir_all(to.parent().expect("folder")).expect("folder");
                        std::fs::rename(&from, &to).expect("rename");
                        ws.apply(FileChange::Deleted(from));
                        ws.apply(if existed { FileChange::Changed(to) } else { FileChange::Created(to) });
                    }
                }
            }
        }
        let fresh = Workspace::open(std::slice::from_ref(&root)).expect("workspace opens");
        let (inc_modules, inc_diags) = picture(&ws, &root);
        let (fresh_modules, fresh_diags) = picture(&fresh, &root);
        prop_assert_eq!(inc_modules, fresh_modules);
        prop_assert_eq!(inc_diags, fresh_diags);
    }
}
