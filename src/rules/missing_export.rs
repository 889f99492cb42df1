//! `stale-import/missing-export`: importing a name the ES/TS target does not export.
//!
//! For an ES module, linking fails before any code runs: `SyntaxError: The requested module
//! './x.mjs' does not provide an export named 'y'`. Usually the export was renamed or removed
//! while this importer kept the old name. `export *` chains are followed (cycle-safe); when any
//! part of the target's export list is unknowable (CommonJS, JSON, a parse failure, an unresolved
//! `export *`), the rule stays silent.

use std::hash::Hash;
use std::rc::Rc;

use rustc_hash::{FxHashMap, FxHashSet};

use super::context::inside_quotes;
use super::{Rule, RuleContext, RuleMeta, ScanDigest};
use crate::diagnostic::{Diagnostic, Fix, Severity, TextEdit};
use crate::extract::ImportKind;
use crate::graph::{FileId, Module, ModuleFormat, Target};
use crate::resolve::is_typescript_file;

pub struct MissingExport;

static META: RuleMeta = RuleMeta {
    code: "stale-import/missing-export",
    default_severity: Some(Severity::Error),
    summary: "An imported name that the target module does not export: linking fails at run time.",
};

/// Export lists already computed in this run.
#[derive(Default)]
struct ExportCache(FxHashMap<FileId, Option<Rc<FxHashSet<String>>>>);

/// [`export_names`], computed once per target and run.
fn cached_export_names(ctx: &RuleContext, id: FileId) -> Option<Rc<FxHashSet<String>>> {
    if let Some(known) = ctx.scratch(|cache: &mut ExportCache| cache.0.get(&id).cloned()) {
        return known;
    }
    let names = export_names(ctx, id).map(Rc::new);
    ctx.scratch(|cache: &mut ExportCache| cache.0.insert(id, names.clone()));
    names
}

/// Every name `id` exports, following `export *`; `None` when any part is unknowable.
fn export_names(ctx: &RuleContext, id: FileId) -> Option<FxHashSet<String>> {
    let mut names = FxHashSet::default();
    let mut visited = FxHashSet::default();
    let mut stack = vec![(id, true)];
    while let Some((current, with_default)) = stack.pop() {
        if !visited.insert(current) {
            continue;
        }
        let module = ctx.module(current)?;
        let path = ctx.path(current);
        let es_shaped = match module.format {
            ModuleFormat::Esm => true,
            ModuleFormat::Cjs => is_typescript_file(path),
            _ => false,
        };
        if !module.facts.complete() || module.facts.exports.unknowable || !es_shaped {
            return None;
        }
        for export in &module.facts.exports.names {
            if with_default || export.name != "default" {
                names.insert(export.name.clone());
            }
        }
        for &site in &module.facts.exports.star_sites {
            let edge = module.edges.iter().find(|e| e.site == site)?;
            match edge.target {
                Target::Module(next) => stack.push((next, false)),
                _ => return None,
            }
        }
    }
    Some(names)
}

/// The export closest to `wanted` when one name is clearly nearer than all others (a typo or a
/// rename that kept half the name).
fn closest<'n>(wanted: &str, names: &'n FxHashSet<String>) -> Option<&'n str> {
    let limit = (wanted.chars().count() / 2).max(1);
    let mut best: Vec<(&str, usize)> = names
        .iter()
        .filter(|n| *n != "default")
        .map(|n| (n.as_str(), levenshtein(wanted, n)))
        .filter(|(_, d)| *d <= limit)
        .collect();
    best.sort_by_key(|(n, d)| (*d, *n));
    match best.as_slice() {
        [(name, _)] => Some(name),
        [(name, d1), (_, d2), ..] if d1 < d2 => Some(name),
        _ => None,
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

impl Rule for MissingExport {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> super::Scope {
        super::Scope::Module
    }

    /// What [`export_names`] reads of a target (its path never changes).
    fn dependency_digest(&self, module: &Module, digest: &mut ScanDigest) {
        module.format.hash(digest);
        module.facts.complete().hash(digest);
        let exports = &module.facts.exports;
        exports.unknowable.hash(digest);
        for export in &exports.names {
            export.name.hash(digest);
        }
        for &site in &exports.star_sites {
            module
                .edges
                .iter()
                .find(|e| e.site == site)
                .map(|e| &e.target)
                .hash(digest);
        }
    }

    fn check_module(&self, ctx: &RuleContext, id: FileId, out: &mut Vec<Diagnostic>) {
        let importer_is_typescript = is_typescript_file(ctx.path(id));
        let Some(module) = ctx.module(id).filter(|m| m.is_evaluated()) else {
            return;
        };
        for edge in &module.edges {
            let site = module.site(edge);
            if site.type_only
                || site.names.is_empty()
                || !matches!(site.kind, ImportKind::Static | ImportKind::ReExport)
            {
                continue;
            }
            let Target::Module(target) = edge.target else {
                continue;
            };
            // TypeScript erases imports of names used only as types, and their declarations
            // live in `.d.ts` files, not in a JavaScript target: only TS sources tell both.
            if importer_is_typescript && !is_typescript_file(ctx.path(target)) {
                continue;
            }
            let Some(names) = cached_export_names(ctx, target) else {
                continue;
            };
            for wanted in site.names.iter().filter(|n| !n.type_only) {
                if names.contains(&wanted.name) {
                    continue;
                }
                let target_name = ctx.display(target);
                let message = if wanted.name == "default" {
                    format!(
                        "{target_name} has no default export: loading {} fails with a SyntaxError before any of its code runs.",
                        ctx.display(id)
                    )
                } else {
                    format!(
                        "'{}' is not exported by {target_name}: loading {} fails with \"SyntaxError: The requested module does not provide an export named '{}'\" before any of its code runs.",
                        wanted.name,
                        ctx.display(id),
                        wanted.name
                    )
                };
                let mut diagnostic =
                    ctx.diagnostic(META.code, Severity::Error, id, wanted.span, message);
                if wanted.name != "default"
                    && let Some(name) = closest(&wanted.name, &names)
                {
                    // The name's span may be a string literal (`import { "a-b" as c }`).
                    let span = if diagnostic.location.span.end - diagnostic.location.span.start
                        == wanted.name.len() as u32
                    {
                        diagnostic.location.span
                    } else {
                        inside_quotes(diagnostic.location.span)
                    };
                    diagnostic.fixes.push(Fix {
                        title: format!("Import '{name}' instead"),
                        edits: vec![TextEdit {
                            location: ctx.location(id, span),
                            new_text: name.to_string(),
                        }],
                    });
                }
                out.push(diagnostic);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_export_is_unique_and_near() {
        let names: FxHashSet<String> = ["formatDate", "formatTime", "parse"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest("formatDat", &names), Some("formatDate"));
        assert_eq!(closest("zzz", &names), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
