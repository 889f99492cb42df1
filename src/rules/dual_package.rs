//! `duplicate-module/dual-package`: one package reached through both `import` and `require`,
//! where the two conditions resolve to different files (the dual package hazard).
//!
//! Node loads the ESM entry for `import` and the CommonJS entry for `require`: two instances of
//! the package with separate state. Silent when one entry loads the other (a thin ESM wrapper
//! around the CommonJS build), and when the import side's format is not certain (a TS file that
//! may be compiled to `require`).

use std::path::PathBuf;

use rustc_hash::FxHashMap;

use super::{Rule, RuleContext, RuleMeta};
use crate::diagnostic::{Diagnostic, Severity};
use crate::extract::{ImportKind, Span};
use crate::graph::{FileId, FormatCertainty, ModuleFormat};
use crate::resolve::is_path_specifier;

pub struct DualPackage;

/// Related locations listed per diagnostic: every site of a widely used package would make the
/// output grow with the square of its import sites.
const MAX_RELATED: usize = 8;

static META: RuleMeta = RuleMeta {
    code: "duplicate-module/dual-package",
    default_severity: Some(Severity::Warning),
    summary: "A package loaded through both its ESM and its CommonJS entry: two instances.",
};

#[derive(Default)]
struct Sides {
    /// (importer, site span, resolved file)
    import: Vec<(FileId, Span, FileId)>,
    require: Vec<(FileId, Span, FileId)>,
}

impl Rule for DualPackage {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_graph(&self, ctx: &RuleContext, out: &mut Vec<Diagnostic>) {
        // (package dir, specifier) → the two sides
        // Hash map: `PathBuf` ordering compares component by component; the runner sorts output.
        let mut by_entry: FxHashMap<(PathBuf, String), Sides> = FxHashMap::default();
        let mut reachable: Vec<FileId> = ctx.runtime_reachable().iter().copied().collect();
        reachable.sort_by(|a, b| ctx.graph.cmp_paths(*a, *b));
        for importer in reachable {
            let Some(module) = ctx.module(importer) else {
                continue;
            };
            let importer_is_esm =
                module.format == ModuleFormat::Esm && module.certainty == FormatCertainty::Certain;
            for (edge, site) in module.runtime_edges() {
                if is_path_specifier(&site.specifier) || site.specifier.starts_with('#') {
                    continue;
                }
                let Some(target) = edge.target.module() else {
                    continue;
                };
                let Some((root, _)) = ctx.package_of(target) else {
                    continue;
                };
                let key = (root.dir, site.specifier.clone());
                let entry = (importer, site.span, target);
                // `import()` uses the import conditions in any JavaScript file; TypeScript may
                // compile it (and static imports) to `require`, so TS files count only when ESM.
                let dynamic_is_import =
                    !crate::resolve::is_typescript_file(ctx.graph.path(importer));
                match site.kind {
                    ImportKind::Require | ImportKind::TsImportEquals => {
                        by_entry.entry(key).or_default().require.push(entry)
                    }
                    ImportKind::Dynamic if importer_is_esm || dynamic_is_import => {
                        by_entry.entry(key).or_default().import.push(entry)
                    }
                    ImportKind::Static | ImportKind::ReExport if importer_is_esm => {
                        by_entry.entry(key).or_default().import.push(entry)
                    }
                    _ => {}
                }
            }
        }
        for ((dir, specifier), sides) in by_entry {
            let (Some(&(_, _, esm)), Some(&(_, _, cjs))) =
                (sides.import.first(), sides.require.first())
            else {
                continue;
            };
            if esm == cjs {
                continue;
            }
            let importers = |side: &[(FileId, Span, FileId)]| {
                side.iter().map(|(f, _, _)| *f).collect::<Vec<_>>()
            };
            let import_files = importers(&sides.import);
            let require_files = importers(&sides.require);
            let with_import = ctx.loaded_with(&import_files);
            if !require_files.iter().any(|f| with_import.contains(f)) {
                continue;
            }
            let with_require = ctx.loaded_with(&require_files);
            // A wrapper: one entry loads the other, so there is one instance after all.
            let wraps = |from: FileId, to: FileId| {
                ctx.graph
                    .dependency_closure(&[from], |_, s| s.is_runtime())
                    .contains(&to)
            };
            if wraps(esm, cjs) || wraps(cjs, esm) {
                continue;
            }
            let name = crate::resolve::package_name_of(&specifier)
                .unwrap_or(&specifier)
                .to_string();
            let short = |f: FileId| {
                ctx.graph
                    .path(f)
                    .strip_prefix(&dir)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| ctx.display(f))
            };
            let message = format!(
                "package '{name}' is loaded twice: `import '{specifier}'` resolves to {} and `require('{specifier}')` to {}; the two instances do not share state (dual package hazard).",
                short(esm),
                short(cjs)
            );
            let all: Vec<(FileId, Span, &str)> = sides
                .import
                .iter()
                .map(|(f, s, _)| (*f, *s, "imported here (ESM entry)"))
                .chain(
                    sides
                        .require
                        .iter()
                        .map(|(f, s, _)| (*f, *s, "required here (CommonJS entry)")),
                )
                .collect();
            for &(file, span, what) in &all {
                if !ctx.module(file).is_some_and(|m| m.is_workspace()) {
                    continue;
                }
                // This site is a hazard only in a program that also loads the other entry.
                let is_import = what.starts_with("imported");
                let (same_side, other_side) = if is_import {
                    (&with_import, &with_require)
                } else {
                    (&with_require, &with_import)
                };
                if !other_side.contains(&file) {
                    continue;
                }
                let mut diagnostic =
                    ctx.diagnostic(META.code, Severity::Warning, file, span, message.clone());
                let mut hidden = 0usize;
                for &(other, other_span, other_what) in &all {
                    let other_is_import = other_what.starts_with("imported");
                    // Sites a program loading this side's entries also loads.
                    let together = if other_is_import == is_import {
                        other_side.contains(&other)
                    } else {
                        same_side.contains(&other)
                    };
                    if (other, other_span) != (file, span) && together {
                        if diagnostic.related.len() == MAX_RELATED {
                            hidden += 1;
                            continue;
                        }
                        diagnostic.related.push(ctx.related(
                            other,
                            other_span,
                            other_what.to_string(),
                        ));
                    }
                }
                if hidden > 0 {
                    diagnostic.message.push_str(&format!(
                        " ({hidden} more import and require sites of '{name}' are not listed)"
                    ));
                }
                out.push(diagnostic);
            }
        }
    }
}
