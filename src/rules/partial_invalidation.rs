//! `stale-import/partial-invalidation`: `delete require.cache[…]` that leaves stale modules.
//!
//! Deleting a cache entry makes the next `require` re-evaluate that one file only. Its own
//! `require`s still return the cached (old) modules, and every module that required it earlier
//! keeps the old `exports` object. Silent when the deletions (anywhere in the workspace) cover
//! the dependency closure, when the whole cache is cleared, or when a key is unknowable.

use rustc_hash::FxHashSet;

use std::hash::Hash;

use super::context::{cache_deletions, name_list};
use super::{Rule, RuleContext, RuleMeta, ScanDigest};
use crate::diagnostic::{Diagnostic, Severity};
use crate::graph::{FileId, FormatCertainty, Module, ModuleFormat};

pub struct PartialInvalidation;

static META: RuleMeta = RuleMeta {
    code: "stale-import/partial-invalidation",
    default_severity: Some(Severity::Warning),
    summary: "delete require.cache[…] re-evaluates one module while its dependencies or importers stay stale.",
};

impl Rule for PartialInvalidation {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scan_digest(&self, module: &Module, state: &mut ScanDigest) {
        if module.facts.cache_deletes.is_empty() {
            return;
        }
        module.facts.clears_whole_cache.hash(state);
        for (delete, target) in cache_deletions(module).into_iter().flatten() {
            delete.key.hash(state);
            target.hash(state);
        }
    }

    fn check_graph(&self, ctx: &RuleContext, out: &mut Vec<Diagnostic>) {
        let deleting: Vec<(FileId, &Module)> = ctx
            .scan_workspace()
            .filter(|(_, m)| !m.facts.cache_deletes.is_empty())
            .collect();
        // Every module some workspace module deletes from `require.cache` (with a certain key).
        let deleted: FxHashSet<FileId> = deleting
            .iter()
            .filter_map(|(_, m)| cache_deletions(m))
            .flatten()
            .filter_map(|(_, target)| target)
            .collect();
        for (id, module) in deleting {
            check_module_deletes(ctx, id, module, &deleted, out);
        }
    }
}

fn check_module_deletes(
    ctx: &RuleContext,
    id: FileId,
    deleter: &Module,
    deleted: &FxHashSet<FileId>,
    out: &mut Vec<Diagnostic>,
) {
    let Some(deletions) = cache_deletions(deleter) else {
        return;
    };
    for (delete, target) in deletions {
        let Some(target) = target else { continue };
        let Some(module) = ctx.module(target) else {
            continue;
        };
        if module.format == ModuleFormat::Esm && module.certainty == FormatCertainty::Certain {
            continue; // stale-import/esm-cache-delete
        }
        if !module.is_workspace() || !module.facts.complete() {
            continue;
        }
        // (a) Workspace dependencies that stay cached.
        let parents = ctx.first_reached_by(&[target]);
        let mut stale_deps: Vec<FileId> = parents
            .keys()
            .copied()
            .filter(|m| {
                *m != target
                    && !deleted.contains(m)
                    && ctx.module(*m).is_some_and(|m| m.is_workspace())
            })
            .collect();
        stale_deps.sort_by(|a, b| ctx.cmp_paths(*a, *b));
        // (b) Modules that required it earlier and keep the old exports.
        let mut holders: Vec<FileId> = ctx
            .importers(target)
            .iter()
            .copied()
            .filter(|m| *m != id && !deleted.contains(m))
            .filter(|m| {
                ctx.module(*m).is_some_and(|module| {
                    module.is_workspace()
                        && module
                            .runtime_edges()
                            .any(|(e, _)| e.target.module() == Some(target))
                })
            })
            .collect();
        holders.sort_by(|a, b| ctx.cmp_paths(*a, *b));
        holders.dedup();
        if stale_deps.is_empty() && holders.is_empty() {
            continue;
        }
        let name = ctx.display(target);
        let mut parts = Vec::new();
        if !stale_deps.is_empty() {
            let names: Vec<String> = stale_deps.iter().map(|m| ctx.display(*m)).collect();
            parts.push(format!(
                "its dependencies {} stay cached, so the new {name} runs against their old code",
                name_list(&names, 5)
            ));
        }
        if !holders.is_empty() {
            let names: Vec<String> = holders.iter().map(|m| ctx.display(*m)).collect();
            let verb = if names.len() == 1 { "keeps" } else { "keep" };
            parts.push(format!(
                "{} already required it and {verb} the old exports",
                name_list(&names, 5)
            ));
        }
        let message = format!(
            "Deleting {name} from require.cache re-evaluates only {name} on the next require: {}.",
            parts.join("; ")
        );
        let mut diagnostic = ctx.diagnostic(META.code, Severity::Warning, id, delete.span, message);
        for dep in stale_deps {
            if let Some(&(importer, span)) = parents.get(&dep) {
                diagnostic.related.push(ctx.related(
                    importer,
                    span,
                    format!("{} stays cached", ctx.display(dep)),
                ));
            }
        }
        for holder in holders {
            let Some(module) = ctx.module(holder) else {
                continue;
            };
            if let Some((_, site)) = module
                .runtime_edges()
                .find(|(e, _)| e.target.module() == Some(target))
            {
                diagnostic.related.push(ctx.related(
                    holder,
                    site.span,
                    format!("{} keeps the old exports of {name}", ctx.display(holder)),
                ));
            }
        }
        out.push(diagnostic);
    }
}
