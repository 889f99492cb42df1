//! Graph algorithms that need more than a walk.

use rustc_hash::FxHashMap;

use super::{FileId, ModuleGraph};

/// Strongly connected components (Tarjan, iterative) of the subgraph induced by `nodes`, along
/// edges accepted by `follow`. Returns only components that form a cycle (size > 1 or a
/// self-import), each sorted by path, in a deterministic order.
pub fn strongly_connected_components(
    graph: &ModuleGraph,
    nodes: &[FileId],
    follow: impl Fn(FileId, FileId) -> bool,
) -> Vec<Vec<FileId>> {
    let successors = |id: FileId| -> Vec<FileId> {
        graph
            .module(id)
            .map(|m| {
                m.runtime_edges()
                    .filter_map(|(e, _)| e.target.module())
                    .filter(|t| graph.is_loaded(*t) && follow(id, *t))
                    .collect()
            })
            .unwrap_or_default()
    };

    let mut index_of: FxHashMap<FileId, u32> = FxHashMap::default();
    let mut low: FxHashMap<FileId, u32> = FxHashMap::default();
    let mut on_stack: FxHashMap<FileId, bool> = FxHashMap::default();
    let mut stack: Vec<FileId> = Vec::new();
    let mut next = 0u32;
    let mut out: Vec<Vec<FileId>> = Vec::new();

    let mut sorted: Vec<FileId> = nodes.to_vec();
    sorted.sort_by(|a, b| graph.cmp_paths(*a, *b));
    for &root in &sorted {
        if index_of.contains_key(&root) {
            continue;
        }
        // Each frame: node and its successors with a cursor.
        let mut frames: Vec<(FileId, Vec<FileId>, usize)> = Vec::new();
        index_of.insert(root, next);
        low.insert(root, next);
        next += 1;
        stack.push(root);
        on_stack.insert(root, true);
        frames.push((root, successors(root), 0));
        while let Some((node, succ, cursor)) = frames.last_mut() {
            let node = *node;
            if *cursor < succ.len() {
                let w = succ[*cursor];
                *cursor += 1;
                if let Some(&wi) = index_of.get(&w) {
                    if on_stack.get(&w).copied().unwrap_or(false) {
                        let l = low[&node].min(wi);
                        low.insert(node, l);
                    }
                } else {
                    index_of.insert(w, next);
                    low.insert(w, next);
                    next += 1;
                    stack.push(w);
                    on_stack.insert(w, true);
                    let s = successors(w);
                    frames.push((w, s, 0));
                }
                continue;
            }
            frames.pop();
            if let Some((parent, _, _)) = frames.last() {
                let l = low[parent].min(low[&node]);
                low.insert(*parent, l);
            }
            if low[&node] == index_of[&node] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack.insert(w, false);
                    component.push(w);
                    if w == node {
                        break;
                    }
                }
                let self_loop = component.len() == 1 && successors(node).contains(&node);
                if component.len() > 1 || self_loop {
                    component.sort_by(|a, b| graph.cmp_paths(*a, *b));
                    out.push(component);
                }
            }
        }
    }
    out.sort_by(|a, b| graph.cmp_paths(a[0], b[0]));
    out
}
