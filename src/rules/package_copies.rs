//! `duplicate-module/package-copies`: one package name loaded from two or more package roots.
//!
//! Nested `node_modules` copies (different or even equal versions) are separate module instances:
//! `instanceof` checks fail across them, "singletons" exist once per copy, caches and registries
//! are split. Only copies that are actually reached from the workspace along runtime imports
//! count; a copy that sits on disk unused is not reported.

use std::hash::Hash;
use std::path::PathBuf;

use rustc_hash::FxHashMap;

use super::{Rule, RuleContext, RuleMeta, ScanDigest};
use crate::diagnostic::{Diagnostic, Severity};
use crate::extract::Span;
use crate::graph::{FileId, Module, ModuleFormat};

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

    fn scan_digest(&self, module: &Module, digest: &mut ScanDigest) {
        // The scan reads which dependency modules are loaded; the path says the package.
        if !module.is_workspace() && module.format != ModuleFormat::Declaration {
            true.hash(digest);
        }
    }

    fn check_graph(&self, ctx: &RuleContext, out: &mut Vec<Diagnostic>) {
        // Only names installed in two or more folders can have copies. The digest covers which
        // dependency modules are loaded; origin and format changes run every graph rule.
        let mut folders: FxHashMap<String, FxHashMap<PathBuf, Vec<FileId>>> = FxHashMap::default();
        for (id, module) in ctx.scan() {
            if module.is_workspace() || module.format == ModuleFormat::Declaration {
                continue;
            }
            if let Some(root) = ctx.package_root(id) {
                folders
                    .entry(root.name)
                    .or_default()
                    .entry(root.dir)
                    .or_default()
                    .push(id);
            }
        }
        let candidates: Vec<FileId> = folders
            .into_values()
            .filter(|dirs| dirs.len() > 1)
            .flat_map(|dirs| dirs.into_values().flatten())
            .collect();
        if candidates.is_empty() {
            return;
        }
        // Breadth first from the workspace modules, within the modules that lead to a candidate:
        // every importer of such a module leads there too, so the first parents found are those
        // of a walk over the whole graph.
        let leading = ctx.runtime_ancestors(&candidates);
        let mut starts: Vec<FileId> = leading
            .iter()
            .copied()
            .filter(|id| ctx.module(*id).is_some_and(|m| m.is_workspace()))
            .collect();
        starts.sort_by(|a, b| ctx.cmp_paths(*a, *b));
        let parents = ctx.first_reached_within(&starts, &leading);
        let depth = |id: FileId| ctx.chain_to(&parents, id).len();
        // name → package dir → copy
        let mut packages: FxHashMap<String, FxHashMap<PathBuf, Copy>> = FxHashMap::default();
        let mut reached: Vec<FileId> = candidates
            .into_iter()
            .filter(|id| parents.contains_key(id))
            .collect();
        reached.sort_by(|a, b| ctx.cmp_paths(*a, *b));
        for id in reached {
            let Some((root, info)) = ctx.package_of(id) else {
                continue;
            };
            let copies = packages.entry(root.name.clone()).or_default();
            let copy = copies.entry(root.dir.clone()).or_insert_with(|| Copy {
                dir: root.dir.clone(),
                version: info.version.clone().unwrap_or_else(|| "?".into()),
                entry: id,
                members: Vec::new(),
            });
            copy.members.push(id);
            if depth(id) < depth(copy.entry) {
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
