//! `duplicate-module/package-copies`: one package name loaded from two or more package roots.
//!
//! Nested `node_modules` copies (different or even equal versions) are separate module instances:
//! `instanceof` checks fail across them, "singletons" exist once per copy, caches and registries
//! are split. Only copies that are actually reached from the workspace along runtime imports
//! count; a copy that sits on disk unused is not reported.

use std::path::PathBuf;

use rustc_hash::FxHashMap;

use super::{Rule, RuleContext, RuleMeta};
use crate::diagnostic::{Diagnostic, Severity};
use crate::extract::Span;
use crate::graph::{FileId, ModuleFormat};

pub struct PackageCopies;

static META: RuleMeta = RuleMeta {
    code: "duplicate-module/package-copies",
    default_severity: Some(Severity::Warning),
    summary: "One package loaded from several installed copies: each copy has its own state.",
};

struct Copy {
    dir: PathBuf,
    version: String,
    /// First module of this copy reached from the workspace (breadth first).
    entry: FileId,
    /// Every reached module of this copy.
    members: Vec<FileId>,
}

impl Rule for PackageCopies {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_graph(&self, ctx: &RuleContext, out: &mut Vec<Diagnostic>) {
        let starts = ctx.sorted_workspace_modules();
        let parents = ctx.first_reached_by(&starts);
        // name → package dir → copy
        let mut packages: FxHashMap<String, FxHashMap<PathBuf, Copy>> = FxHashMap::default();
        let mut reached: Vec<FileId> = parents.keys().copied().collect();
        reached.sort_by(|a, b| ctx.graph.cmp_paths(*a, *b));
        for id in reached {
            let Some(module) = ctx.module(id) else {
                continue;
            };
            if module.is_workspace() || module.format == ModuleFormat::Declaration {
                continue;
            }
            let Some((root, info)) = ctx.package_of(id) else {
                continue;
            };
            let depth = ctx.chain_to(&parents, id).len();
            let copies = packages.entry(root.name.clone()).or_default();
            let copy = copies.entry(root.dir.clone()).or_insert_with(|| Copy {
                dir: root.dir.clone(),
                version: info.version.clone().unwrap_or_else(|| "?".into()),
                entry: id,
                members: Vec::new(),
            });
            copy.members.push(id);
            if depth < ctx.chain_to(&parents, copy.entry).len() {
                copy.entry = id;
            }
        }
        for (name, copies) in packages {
            if copies.len() < 2 {
                continue;
            }
            let mut copies: Vec<Copy> = copies.into_values().collect();
            copies.sort_by(|a, b| a.dir.as_os_str().cmp(b.dir.as_os_str()));
            let describe = |c: &Copy| format!("{} ({})", c.version, ctx.display_dir(&c.dir));
            // Where each copy enters: the workspace import site that starts its shortest chain.
            let entries: Vec<Option<(FileId, Span, String)>> = copies
                .iter()
                .map(|c| {
                    let chain = ctx.chain_to(&parents, c.entry);
                    let &(file, span) = chain.first()?;
                    let mut names: Vec<String> =
                        chain.iter().map(|(m, _)| ctx.short_name(*m)).collect();
                    names.push(ctx.short_name(c.entry));
                    Some((
                        file,
                        span,
                        format!("{name}@{} via {}", c.version, names.join(" → ")),
                    ))
                })
                .collect();
            let mut seen: FxHashMap<(FileId, Span), ()> = FxHashMap::default();
            for (i, copy) in copies.iter().enumerate() {
                let Some((file, span, _)) = &entries[i] else {
                    continue;
                };
                // Only copies that one program loads together are two instances.
                let together: Vec<usize> = (0..copies.len())
                    .filter(|&j| j != i && ctx.loaded_together(&copy.members, &copies[j].members))
                    .collect();
                if together.is_empty() || seen.insert((*file, *span), ()).is_some() {
                    continue;
                }
                let mut listed: Vec<String> = vec![describe(copy)];
                listed.extend(together.iter().map(|&j| describe(&copies[j])));
                let message = format!(
                    "package '{name}' is loaded from {} copies: {}; this import loads {}. Each copy has its own module state: instanceof checks, singletons and caches are not shared.",
                    listed.len(),
                    listed.join(", "),
                    describe(copy)
                );
                let mut diagnostic =
                    ctx.diagnostic(META.code, Severity::Warning, *file, *span, message);
                for &j in &together {
                    if let Some((other_file, other_span, chain)) = &entries[j] {
                        diagnostic.related.push(ctx.related(
                            *other_file,
                            *other_span,
                            format!("another copy: {chain}"),
                        ));
                    }
                }
                out.push(diagnostic);
            }
        }
    }
}
