//! Property: any sequence of edits, creates, deletes and renames applied through
//! `Workspace::apply` leaves the graph and the diagnostics equal to a fresh build of the final
//! disk state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use modgraph::graph::Target;
use modgraph::workspace::{FileChange, Workspace};
use proptest::prelude::*;

/// Files the generated project may contain.
const FILES: &[&str] = &[
    "src/a.mjs",
    "src/b.mjs",
    "src/c.js",
    "src/d.ts",
    "src/lib/e.mjs",
    "src/lib/index.js",
    "src/g.cjs",
    "src/Util.mjs",
    "node_modules/pkg/index.js",
    "node_modules/pkg/package.json",
    "package.json",
];

/// Lines a source file is made of.
const LINES: &[&str] = &[
    "import { x } from './b.mjs';",
    "import def from './a.mjs';",
    "import './lib/index.js';",
    "import { e } from './lib/e.mjs';",
    "export * from './lib/e.mjs';",
    "import { u } from './util.mjs';",
    "import { u } from './Util.mjs';",
    "import { y } from './d.js';",
    "import pkg from 'pkg';",
    "import missing from 'not-installed';",
    "export const x = 1;",
    "export const e = 2;",
    "export default function f() {}",
    "export const u = 3;",
    "export const y = 4;",
    "const c = require('./c');",
    "const g = require('./g.cjs');",
    "delete require.cache[require.resolve('./c')];",
    "module.exports = { x: 1 };",
    "const p = await import(`./b.mjs?v=${Date.now()}`);",
    "import './b.mjs?v=2';",
    "import {",
];

#[derive(Debug, Clone)]
enum Op {
    Write(usize, Vec<usize>),
    Delete(usize),
    Rename(usize, usize),
}

fn content(file: &str, lines: &[usize]) -> String {
    match file {
        "package.json" => {
            let kind = if lines.first().is_some_and(|l| l % 2 == 0) {
                "module"
            } else {
                "commonjs"
            };
            format!("{{ \"name\": \"app\", \"type\": \"{kind}\" }}\n")
        }
        "node_modules/pkg/package.json" => "{ \"name\": \"pkg\", \"version\": \"1.0.0\" }\n".into(),
        _ => {
            lines
                .iter()
                .map(|l| LINES[l % LINES.len()])
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..FILES.len(), prop::collection::vec(0..LINES.len(), 0..6)).prop_map(|(f, l)| Op::Write(f, l)),
        1 => (0..FILES.len()).prop_map(Op::Delete),
        1 => (0..FILES.len(), 0..FILES.len()).prop_map(|(a, b)| Op::Rename(a, b)),
    ]
}

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

fn write(root: &Path, file: &str, text: &str) {
    let path = root.join(file);
    std::fs::create_dir_all(path.parent().expect("files have a folder")).expect("create folder");
    std::fs::write(path, text).expect("write file");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

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
