//! `stale-import/esm-cache-delete`: `delete require.cache[…]` of an ES module.
//!
//! ES modules live in the ESM loader's cache, keyed by URL, which cannot be cleared. Removing a
//! `require.cache` entry does not re-evaluate them: the next `import` or `require` returns the
//! same, old instance. Only fires when the target is certainly ESM (`.mjs`/`.mts`, or
//! `"type": "module"`).

use std::hash::Hash;

use super::{Rule, RuleContext, RuleMeta, ScanDigest};
use crate::diagnostic::{Diagnostic, Severity};
use crate::graph::{FileId, FormatCertainty, Module, ModuleFormat};

pub struct EsmCacheDelete;

static META: RuleMeta = RuleMeta {
    code: "stale-import/esm-cache-delete",
    default_severity: Some(Severity::Error),
    summary: "delete require.cache[…] of an ES module has no effect.",
};

impl Rule for EsmCacheDelete {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> super::Scope {
        super::Scope::Module
    }

    /// The deleted module's format decides.
    fn dependency_digest(&self, module: &Module, digest: &mut ScanDigest) {
        module.format.hash(digest);
        module.certainty.hash(digest);
    }

    fn check_module(&self, ctx: &RuleContext, id: FileId, out: &mut Vec<Diagnostic>) {
        let Some(module) = ctx.module(id) else { return };
        if module.facts.clears_whole_cache {
            return;
        }
        for delete in &module.facts.cache_deletes {
            let target = super::context::deleted_module(module, delete);
            let Some(target) = target else { continue };
            let Some(target_module) = ctx.module(target) else {
                continue;
            };
            if target_module.format != ModuleFormat::Esm
                || target_module.certainty != FormatCertainty::Certain
            {
                continue;
            }
            let name = ctx.display(target);
            out.push(ctx.diagnostic(
                META.code,
                Severity::Error,
                id,
                delete.span,
                format!(
                    "{name} is an ES module: it is not in require.cache, so this delete does nothing and the next import or require returns the same, old instance. Reload it with a new URL or a worker instead."
                ),
            ));
        }
    }
}
