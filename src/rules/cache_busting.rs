//! `stale-import/cache-busting`: `import()` of a URL with a query or hash computed at run time.
//!
//! `import('./x.mjs?v=' + Date.now())` evaluates a fresh `x.mjs`, but the ES module cache is
//! keyed by URL: everything `x.mjs` imports keeps its first, cached instance with the old code.
//! And the old `x.mjs` instances are never freed: every call leaks one module instance.

use super::context::name_list;
use super::{Rule, RuleContext, RuleMeta};
use crate::diagnostic::{Diagnostic, Severity};
use crate::graph::{FileId, Target};

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

    fn check_module(&self, ctx: &RuleContext, id: FileId, out: &mut Vec<Diagnostic>) {
        let Some(module) = ctx.module(id) else { return };
        for edge in &module.edges {
            let site = module.site(edge);
            if !site.cache_busting {
                continue;
            }
            let Target::Module(target) = edge.target else {
                continue;
            };
            // The workspace modules the fresh instance still shares with the old one.
            let parents = ctx.first_reached_by(&[target]);
            let mut stale: Vec<FileId> = parents
                .keys()
                .copied()
                .filter(|m| *m != target && ctx.module(*m).is_some_and(|m| m.is_workspace()))
                .collect();
            stale.sort_by(|a, b| ctx.graph.cmp_paths(*a, *b));
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
            let mut diagnostic =
                ctx.diagnostic(META.code, Severity::Warning, id, site.span, message);
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
    }
}
