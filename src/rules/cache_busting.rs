//! `stale-import/cache-busting`: `import()` of a URL with a query or hash computed at run time.
//!
//! `import('./x.mjs?v=' + Date.now())` evaluates a fresh `x.mjs`, but the ES module cache is
//! keyed by URL: everything `x.mjs` imports keeps its first, cached instance with the old code.
//! And the old `x.mjs` instances are never freed: every call leaks one module instance.

use std::hash::Hash;

use super::context::name_list;
use super::{Rule, RuleContext, RuleMeta, ScanDigest};
use crate::diagnostic::{Diagnostic, Severity};
use crate::extract::ImportSite;
use crate::graph::{Edge, FileId, Module, Target};

pub struct CacheBusting;

static META: RuleMeta = RuleMeta {
    code: "stale-import/cache-busting",
    default_severity: Some(Severity::Warning),
    summary: "import() with a run-time query re-evaluates only the entry; its imports stay stale and each call leaks an instance.",
};

impl Rule for CacheBusting {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scan_digest(&self, module: &Module, state: &mut ScanDigest) {
        for (edge, site) in busting_edges(module) {
            edge.target.hash(state);
            site.specifier.hash(state);
        }
    }

    fn check_graph(&self, ctx: &RuleContext, out: &mut Vec<Diagnostic>) {
        for (id, module) in ctx.scan_workspace() {
            for (edge, site) in busting_edges(module) {
                let Target::Module(target) = edge.target else {
                    continue;
                };
                check_site(ctx, id, site, target, out);
            }
        }
    }
}

/// The `import()` sites with a query computed at run time.
fn busting_edges(module: &Module) -> impl Iterator<Item = (&Edge, &ImportSite)> {
    module
        .edges
        .iter()
        .map(|e| (e, module.site(e)))
        .filter(|(_, site)| site.cache_busting)
}

fn check_site(
    ctx: &RuleContext,
    id: FileId,
    site: &ImportSite,
    target: FileId,
    out: &mut Vec<Diagnostic>,
) {
    // The workspace modules the fresh instance still shares with the old one.
    let parents = ctx.first_reached_by(&[target]);
    let mut stale: Vec<FileId> = parents
        .keys()
        .copied()
        .filter(|m| *m != target && ctx.module(*m).is_some_and(|m| m.is_workspace()))
        .collect();
    stale.sort_by(|a, b| ctx.cmp_paths(*a, *b));
    let entry = ctx.display(target);
    let message = if stale.is_empty() {
        format!(
            "import() with a query computed at run time evaluates a new instance of {entry} on every call; the old instances are never freed (one leaked module per call)."
        )
    } else {
        let names: Vec<String> = stale.iter().map(|m| ctx.display(*m)).collect();
        format!(
            "import() with a query computed at run time re-evaluates only {entry}: its imports {} stay cached with their old code, and every call leaks one more instance of {entry}.",
            name_list(&names, 5)
        )
    };
    let mut diagnostic = ctx.diagnostic(META.code, Severity::Warning, id, site.span, message);
    for module in stale {
        if let Some(&(importer, span)) = parents.get(&module) {
            diagnostic.related.push(ctx.related(
                importer,
                span,
                format!(
                    "{} stays cached: this import is not re-evaluated",
                    ctx.display(module)
                ),
            ));
        }
    }
    out.push(diagnostic);
}
