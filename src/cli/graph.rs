//! `modgraph graph`: the module graph (or the neighbourhood of one file) as JSON, DOT or
//! Mermaid. Dependency modules are collapsed into one node per package.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::json;

use crate::graph::FileId;
use crate::workspace::Workspace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Json,
    Dot,
    Mermaid,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct EdgeOut {
    from: String,
    to: String,
    kind: &'static str,
    type_only: bool,
}

/// The node name of a module: its path, or `name@version` for an installed package.
fn node_name(workspace: &Workspace, base: &Path, id: FileId) -> String {
    let graph = workspace.graph();
    if graph.module(id).is_some_and(|m| m.is_workspace()) {
        let path = graph.path(id);
        return path
            .strip_prefix(base)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.display().to_string());
    }
    match workspace.package_of(id) {
        Some((root, info)) => format!(
            "{}@{}",
            root.name,
            info.version.unwrap_or_else(|| "?".into())
        ),
        None => graph.path(id).display().to_string(),
    }
}

fn kind_name(kind: crate::extract::ImportKind) -> &'static str {
    use crate::extract::ImportKind::*;
    match kind {
        Static => "import",
        ReExport => "export-from",
        Dynamic => "dynamic-import",
        Require => "require",
        RequireResolve => "require-resolve",
        TsImportEquals => "import-equals",
    }
}

/// Files within `depth` import steps of `focus`, in either direction.
fn neighbourhood(workspace: &Workspace, focus: FileId, depth: u32) -> FxHashSet<FileId> {
    let graph = workspace.graph();
    let mut seen = FxHashSet::from_iter([focus]);
    let mut queue = VecDeque::from([(focus, 0u32)]);
    while let Some((id, d)) = queue.pop_front() {
        if d == depth {
            continue;
        }
        let forward = graph
            .module(id)
            .into_iter()
            .flat_map(|m| m.edges.iter().filter_map(|e| e.target.module()));
        let backward = graph.importers(id).iter().copied();
        for next in forward.chain(backward).collect::<Vec<_>>() {
            if graph.is_loaded(next) && seen.insert(next) {
                queue.push_back((next, d + 1));
            }
        }
    }
    seen
}

pub fn run(
    workspace: &Workspace,
    base: &Path,
    focus: Option<&Path>,
    depth: u32,
    format: GraphFormat,
    out: &mut impl Write,
) -> Result<()> {
    let graph = workspace.graph();
    let included: Option<FxHashSet<FileId>> = match focus {
        Some(path) => {
            let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            let Some(id) = graph.id(&canonical).filter(|id| graph.is_loaded(*id)) else {
                bail!(
                    "{} is not a module of this workspace (is it under the folder given, and not ignored?)",
                    path.display()
                );
            };
            Some(neighbourhood(workspace, id, depth))
        }
        None => None,
    };
    let wanted = |id: FileId| included.as_ref().is_none_or(|s| s.contains(&id));
    let mut names: FxHashMap<FileId, String> = FxHashMap::default();
    let mut name = |id: FileId| {
        names
            .entry(id)
            .or_insert_with(|| node_name(workspace, base, id))
            .clone()
    };
    let mut nodes: BTreeMap<String, &'static str> = BTreeMap::new();
    let mut edges: BTreeSet<EdgeOut> = BTreeSet::new();
    let mut sources: Vec<FileId> = graph
        .modules()
        .filter(|(id, m)| wanted(*id) && (m.is_workspace() || included.is_some()))
        .map(|(id, _)| id)
        .collect();
    sources.sort_by(|a, b| graph.cmp_paths(*a, *b));
    for id in sources {
        let Some(module) = graph.module(id) else {
            continue;
        };
        let from = name(id);
        nodes.insert(
            from.clone(),
            if module.is_workspace() {
                "workspace"
            } else {
                "package"
            },
        );
        for edge in &module.edges {
            let Some(target) = edge.target.module() else {
                continue;
            };
            if !wanted(target) {
                continue;
            }
            let to = name(target);
            if to == from {
                continue;
            }
            let workspace_target = graph.module(target).is_some_and(|m| m.is_workspace());
            nodes.insert(
                to.clone(),
                if workspace_target {
                    "workspace"
                } else {
                    "package"
                },
            );
            let site = module.site(edge);
            edges.insert(EdgeOut {
                from: from.clone(),
                to,
                kind: kind_name(site.kind),
                type_only: site.type_only,
            });
        }
    }
    match format {
        GraphFormat::Json => {
            let value = json!({
                "version": 1,
                "root": base.display().to_string(),
                "nodes": nodes.iter().map(|(id, kind)| json!({ "id": id, "kind": kind })).collect::<Vec<_>>(),
                "edges": edges.iter().map(|e| json!({ "from": e.from, "to": e.to, "kind": e.kind, "typeOnly": e.type_only })).collect::<Vec<_>>(),
            });
            serde_json::to_writer_pretty(&mut *out, &value)?;
            writeln!(out)?;
        }
        GraphFormat::Dot => {
            writeln!(out, "digraph modules {{")?;
            writeln!(
                out,
                "  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];"
            )?;
            for (id, kind) in &nodes {
                let style = if *kind == "package" {
                    ", style=filled, fillcolor=\"#eeeeee\""
                } else {
                    ""
                };
                writeln!(out, "  {:?} [label={:?}{style}];", id, id)?;
            }
            for e in &edges {
                let style = if e.type_only {
                    " [style=dashed]"
                } else if e.kind == "dynamic-import" {
                    " [style=dotted]"
                } else {
                    ""
                };
                writeln!(out, "  {:?} -> {:?}{style};", e.from, e.to)?;
            }
            writeln!(out, "}}")?;
        }
        GraphFormat::Mermaid => {
            writeln!(out, "graph LR")?;
            let ids: BTreeMap<&String, String> = nodes
                .keys()
                .enumerate()
                .map(|(i, n)| (n, format!("m{i}")))
                .collect();
            for (node, kind) in &nodes {
                let label = node.replace('"', "#quot;");
                if *kind == "package" {
                    writeln!(out, "  {}[(\"{label}\")]", ids[node])?;
                } else {
                    writeln!(out, "  {}[\"{label}\"]", ids[node])?;
                }
            }
            for e in &edges {
                let arrow = if e.type_only || e.kind == "dynamic-import" {
                    "-.->"
                } else {
                    "-->"
                };
                writeln!(out, "  {} {arrow} {}", ids[&e.from], ids[&e.to])?;
            }
        }
    }
    Ok(())
}
