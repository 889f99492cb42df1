//! The static half of a reload plan: which modules import the changed files, transitively,
//! according to the module graph. The agent joins this with the edges the process recorded
//! and stops at the boundaries it knows (`hot.accept`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use rustc_hash::FxHashSet;

use crate::graph::{FileId, ModuleGraph};

use super::protocol::ReloadParams;

/// Reload parameters for `changed`: every runtime importer chain above them (type-only
/// imports never load anything, so they are left out).
pub fn reload_params(graph: &ModuleGraph, changed: &[PathBuf]) -> ReloadParams {
    let mut importers: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    let starts: Vec<FileId> = changed.iter().filter_map(|p| graph.id(p)).collect();
    let mut seen: FxHashSet<FileId> = starts.iter().copied().collect();
    let mut stack = starts;
    while let Some(id) = stack.pop() {
        let mut parents: Vec<PathBuf> = Vec::new();
        for &importer in graph.importers(id) {
            let Some(module) = graph.module(importer) else {
                continue;
            };
            let loads_it = module
                .runtime_edges()
                .any(|(edge, _)| edge.target.module() == Some(id));
            if !loads_it {
                continue;
            }
            parents.push(graph.path(importer).to_path_buf());
            if seen.insert(importer) {
                stack.push(importer);
            }
        }
        if !parents.is_empty() {
            parents.sort();
            parents.dedup();
            importers.insert(graph.path(id).to_path_buf(), parents);
        }
    }
    ReloadParams {
        changed: changed.to_vec(),
        importers,
    }
}
