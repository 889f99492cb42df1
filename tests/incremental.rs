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

/// A comparable picture: every module reachable from the workspace with its edges and reverse
/// edges, and the diagnostics, all by path.
fn picture(ws: &Workspace, root: &Path) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let graph = ws.graph();
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let mut modules = BTreeMap::new();
    let reachable = graph.reachable_from_workspace();
    for &id in &reachable {
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
        let mut edges: Vec<String> = edges;
        // The reverse edges, kept incrementally, must match too (dependency modules nothing
        // reaches any more may stay loaded).
        for (what, list) in [
            ("imported by", graph.importers(id)),
            ("evaluated by", graph.runtime_importers(id)),
        ] {
            let mut by: Vec<String> = list
                .iter()
                .filter(|i| reachable.contains(i))
                .map(|i| rel(graph.path(*i)))
                .collect();
            by.sort();
            edges.push(format!("{what} {by:?}"));
        }
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
        specifier_index in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root: PathBuf = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
        for (f, lines) in &initial {
            write(&root, FILES[*f], &content(FILES[*f], lines));
        }
        // Without the index while loading, the first change builds it.
        let options = modgraph::workspace::WorkspaceOptions {
            specifier_index,
            ..Default::default()
        };
        let mut ws = Workspace::open_with(std::slice::from_ref(&root), options).expect("workspace opens");
        for op in &ops {
            apply_op(&mut ws, &root, op, |_, _, _| {});
        }
        let fresh = Workspace::open(std::slice::from_ref(&root)).expect("workspace opens");
        let (inc_modules, inc_diags) = picture(&ws, &root);
        let (fresh_modules, fresh_diags) = picture(&fresh, &root);
        prop_assert_eq!(inc_modules, fresh_modules);
        prop_assert_eq!(inc_diags, fresh_diags);
    }
}

proptest! {
    // Cheap cases, and the invalidation mistakes they catch need a few thousand to show.
    #![proptest_config(ProptestConfig { cases: support::project::cases(1000), ..ProptestConfig::default() })]

    /// The rules' incremental runs (results kept across changes, re-run only where a change can
    /// reach) give what a run from nothing gives on the same graph, after every step.
    #[test]
    fn incremental_rule_runs_equal_a_full_run(
        initial in prop::collection::vec((0..FILES.len(), prop::collection::vec(0..LINES.len(), 0..6)), 1..6),
        ops in prop::collection::vec((op(), any::<bool>()), 1..12),
    ) {
        use modgraph::rules::{PendingChanges, RuleCache};
        let dir = tempfile::tempdir().expect("temp dir");
        let root: PathBuf = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
        for (f, lines) in &initial {
            write(&root, FILES[*f], &content(FILES[*f], lines));
        }
        let mut ws = Workspace::open(std::slice::from_ref(&root)).expect("workspace opens");
        let mut cache = RuleCache::default();
        let mut pending = PendingChanges::default();
        pending.run(&ws, &mut cache);
        // `run_now`: the rules run after this step; else the step's changes add up with the next.
        for (op, run_now) in &ops {
            apply_op(&mut ws, &root, op, |change, was_loaded, result| {
                pending.record(&change, was_loaded, result);
            });
            if *run_now {
                let incremental = pending.run(&ws, &mut cache);
                let full = modgraph::rules::check(&ws);
                prop_assert_eq!(describe(&ws, &root, &incremental), describe(&ws, &root, &full), "after {:?}", op);
            }
        }
    }
}

/// Diagnostics with everything they say, by path.
fn describe(
    ws: &Workspace,
    root: &Path,
    found: &[modgraph::diagnostic::Diagnostic],
) -> Vec<String> {
    let graph = ws.graph();
    let rel = |id| {
        graph
            .path(id)
            .strip_prefix(root)
            .unwrap_or(graph.path(id))
            .display()
            .to_string()
    };
    found
        .iter()
        .map(|d| {
            let related: Vec<String> = d
                .related
                .iter()
                .map(|r| {
                    format!(
                        "{} {:?} {}",
                        rel(r.location.file),
                        r.location.span,
                        r.message
                    )
                })
                .collect();
            let fixes: Vec<String> = d.fixes.iter().map(|f| f.title.clone()).collect();
            format!(
                "{} {} {:?} {:?} {} {related:?} {fixes:?}",
                rel(d.location.file),
                d.code,
                d.severity,
                d.location.span,
                d.message
            )
        })
        .collect()
}

/// Applies one step on disk and through `Workspace::apply`, handing each applied change to
/// `applied` with whether its path was a loaded module before.
fn apply_op(
    ws: &mut Workspace,
    root: &Path,
    op: &Op,
    mut applied: impl FnMut(FileChange, bool, modgraph::workspace::ApplyResult),
) {
    let mut apply = |ws: &mut Workspace, change: FileChange| {
        let (FileChange::Changed(path) | FileChange::Created(path) | FileChange::Deleted(path)) =
            &change;
        let was_loaded = ws
            .graph()
            .id(path)
            .is_some_and(|id| ws.graph().is_loaded(id));
        let result = ws.apply(change.clone());
        applied(change, was_loaded, result);
    };
    match op {
        Op::Write(f, lines) => {
            let path = root.join(FILES[*f]);
            let existed = path.exists();
            write(root, FILES[*f], &content(FILES[*f], lines));
            apply(ws, written(path, existed));
        }
        Op::Delete(f) => {
            let path = root.join(FILES[*f]);
            if path.exists() {
                std::fs::remove_file(&path).expect("delete");
                apply(ws, FileChange::Deleted(path));
            }
        }
        Op::Rename(a, b) => {
            let (from, to) = (root.join(FILES[*a]), root.join(FILES[*b]));
            if from.exists() && a != b {
                let existed = to.exists();
                std::fs::create_dir_all(to.parent().expect("folder")).expect("folder");
                std::fs::rename(&from, &to).expect("rename");
                apply(ws, FileChange::Deleted(from));
                apply(ws, written(to, existed));
            }
        }
    }
}

/// The change a write makes: a new file or a changed one.
fn written(path: PathBuf, existed: bool) -> FileChange {
    if existed {
        FileChange::Changed(path)
    } else {
        FileChange::Created(path)
    }
}

/// A small workspace: `main.cjs` requires a folder module `lib.js/` (its `index.js`), a file in
/// it, and `a.cjs`.
fn folder_workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
    write(
        &root,
        "main.cjs",
        "require('./lib.js');\nrequire('./lib.js/util.js');\nrequire('./a.cjs');\n",
    );
    write(&root, "a.cjs", "module.exports = 1;\n");
    write(&root, "lib.js/index.js", "require('./util.js');\n");
    write(&root, "lib.js/util.js", "module.exports = 2;\n");
    (dir, root)
}

fn assert_fresh(ws: &Workspace, root: &Path, what: &str) {
    let fresh = Workspace::open(&[root.to_path_buf()]).expect("workspace opens");
    assert_eq!(picture(ws, root), picture(&fresh, root), "{what}");
}

/// The disk changes after the walk listed the files and before they are read: a file is
/// deleted and a listed folder becomes a file. The graph is the one of the disk as read: the
/// vanished files are left out, not kept as unreadable modules.
#[test]
fn files_that_vanish_between_listing_and_reading_are_left_out() {
    let (_dir, root) = folder_workspace();
    let (a, lib) = (root.join("a.cjs"), root.join("lib.js"));
    let progress = modgraph::workspace::LoadProgress::on_listed(move || {
        std::fs::remove_file(&a).expect("delete a.cjs");
        std::fs::remove_dir_all(&lib).expect("delete lib.js/");
        std::fs::write(&lib, "module.exports = 3;\n").expect("lib.js is a file now");
    });
    let ws = Workspace::open_with_progress(
        std::slice::from_ref(&root),
        modgraph::workspace::WorkspaceOptions::default(),
        std::sync::Arc::new(progress),
    )
    .expect("workspace opens");
    assert!(
        ws.notes().is_empty(),
        "no note about files that are gone: {:?}",
        ws.notes()
    );
    assert_fresh(&ws, &root, "a load raced by deletions");
}

/// Loading workers put modules in the graph in turn, and one that finds another doing so
/// leaves its modules to it. However the runs interleave, every module the workspace reaches
/// ends up in the graph: long chains of workspace modules, and packages whose modules are
/// found only one `require` at a time.
#[test]
fn every_reachable_module_is_loaded_however_the_workers_interleave() {
    const FILES: usize = 300;
    const PACKAGES: usize = 10;
    const DEPTH: usize = 40;
    let dir = tempfile::tempdir().expect("temporary folder");
    let root = dir.path().canonicalize().expect("canonical path");
    for i in 0..FILES {
        let next = if i + 1 < FILES {
            format!("import './m{}.js';\n", i + 1)
        } else {
            String::new()
        };
        let text = format!("{next}import 'p{}';\nexport const x = 1;\n", i % PACKAGES);
        std::fs::write(root.join(format!("m{i}.js")), text).expect("write module");
    }
    for p in 0..PACKAGES {
        let package = root.join(format!("node_modules/p{p}"));
        std::fs::create_dir_all(&package).expect("package folder");
        std::fs::write(
            package.join("package.json"),
            format!("{{\"name\":\"p{p}\",\"main\":\"d0.js\"}}"),
        )
        .expect("manifest");
        for d in 0..DEPTH {
            let text = if d + 1 < DEPTH {
                format!("require('./d{}.js');\n", d + 1)
            } else {
                "module.exports = 1;\n".to_string()
            };
            std::fs::write(package.join(format!("d{d}.js")), text).expect("write dependency");
        }
    }
    for round in 0..20 {
        let ws = Workspace::open(std::slice::from_ref(&root)).expect("workspace opens");
        let graph = ws.graph();
        assert_eq!(
            graph.modules().count(),
            FILES + PACKAGES * DEPTH,
            "round {round}: modules loaded"
        );
        for (id, module) in graph.modules() {
            for edge in &module.edges {
                if let Target::Module(target) = edge.target {
                    assert!(
                        graph.is_loaded(target),
                        "round {round}: {} reaches {}, which is not loaded",
                        graph.path(id).display(),
                        graph.path(target).display()
                    );
                }
            }
        }
    }
}

/// A folder is replaced by a file of the same name (and back), with the events a watcher may
/// deliver: both, only the creation, or only a change. Each ends equal to a fresh build.
#[test]
fn a_folder_replaced_by_a_file_and_back_through_apply() {
    type Events = fn(&Path) -> Vec<FileChange>;
    let sequences: [(&str, Events); 3] = [
        ("deleted, then created", |p| {
            vec![
                FileChange::Deleted(p.to_path_buf()),
                FileChange::Created(p.to_path_buf()),
            ]
        }),
        ("created only", |p| {
            vec![FileChange::Created(p.to_path_buf())]
        }),
        ("changed only", |p| {
            vec![FileChange::Changed(p.to_path_buf())]
        }),
    ];
    for (name, events) in sequences {
        let (_dir, root) = folder_workspace();
        let mut ws = Workspace::open(std::slice::from_ref(&root)).expect("workspace opens");
        let lib = root.join("lib.js");
        std::fs::remove_dir_all(&lib).expect("delete lib.js/");
        std::fs::write(&lib, "module.exports = 3;\n").expect("lib.js is a file now");
        for change in events(&lib) {
            ws.apply(change);
        }
        assert_fresh(&ws, &root, &format!("folder → file, {name}"));

        std::fs::remove_file(&lib).expect("delete lib.js");
        write(&root, "lib.js/index.js", "require('./util.js');\n");
        write(&root, "lib.js/util.js", "module.exports = 2;\n");
        for change in events(&lib) {
            ws.apply(change);
        }
        assert_fresh(&ws, &root, &format!("file → folder, {name}"));
    }
}

/// An edit that changes only what a graph rule scans (here a `delete require.cache[…]` with an
/// unknowable key, which adds no import site) must still run that rule again.
#[test]
fn removing_an_unknowable_cache_delete_brings_the_partial_invalidation_back() {
    use modgraph::rules::{Changes, RuleCache, check_incremental};
    let dir = tempfile::tempdir().expect("temp dir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
    write(
        &root,
        "a.cjs",
        "const b = require('./b.cjs');\nmodule.exports = b;\n",
    );
    write(&root, "b.cjs", "module.exports = 1;\n");
    let reload = "function reload(key) {\n  delete require.cache[require.resolve('./a.cjs')];\n  delete require.cache[key];\n  return require('./a.cjs');\n}\nmodule.exports = reload;\n";
    write(&root, "reloader.cjs", reload);
    let mut ws = Workspace::open(std::slice::from_ref(&root)).expect("workspace opens");
    let mut cache = RuleCache::default();
    let codes = |found: &[modgraph::diagnostic::Diagnostic]| {
        found
            .iter()
            .filter(|d| d.code == "stale-import/partial-invalidation")
            .count()
    };
    let found = check_incremental(&ws, &mut cache, None);
    assert_eq!(codes(&found), 0, "an unknowable key makes the rule silent");

    let path = root.join("reloader.cjs");
    std::fs::write(&path, reload.replace("  delete require.cache[key];\n", ""))
        .expect("write reloader.cjs");
    let result = ws.apply(FileChange::Changed(path));
    let found = check_incremental(
        &ws,
        &mut cache,
        Some(Changes {
            modules: &result.changed,
            structure: result.structure,
            previous: &result.previous,
            files_changed: false,
        }),
    );
    assert_eq!(
        codes(&found),
        codes(&modgraph::rules::check(&ws)),
        "incremental equals fresh"
    );
    assert_eq!(codes(&found), 1, "deleting a but not b is partial");
}

/// A graph rule that read a module's facts runs again when only those facts change: here the
/// module deleted from `require.cache` starts to parse, and nothing about any edge changes.
#[test]
fn a_graph_rule_runs_again_when_facts_it_read_change_without_any_edge() {
    use modgraph::rules::{PendingChanges, RuleCache};
    let dir = tempfile::tempdir().expect("temp dir");
    let root: PathBuf = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
    write(&root, "src/c.js", "import {\n");
    write(
        &root,
        "src/a.mjs",
        "delete require.cache[require.resolve('./c')];\n",
    );
    write(&root, "src/d.ts", "const c = require('./c');\n");
    let mut ws = Workspace::open(std::slice::from_ref(&root)).expect("workspace opens");
    let mut cache = RuleCache::default();
    let mut pending = PendingChanges::default();
    let before = pending.run(&ws, &mut cache);
    assert!(
        !before
            .iter()
            .any(|d| d.code == "stale-import/partial-invalidation"),
        "a module that does not parse is not judged"
    );
    apply_op(
        &mut ws,
        &root,
        &Op::Write(2, vec![]),
        |change, was_loaded, result| {
            pending.record(&change, was_loaded, result);
        },
    );
    let incremental = pending.run(&ws, &mut cache);
    let full = modgraph::rules::check(&ws);
    assert!(
        full.iter()
            .any(|d| d.code == "stale-import/partial-invalidation")
    );
    assert_eq!(
        describe(&ws, &root, &incremental),
        describe(&ws, &root, &full)
    );
}
