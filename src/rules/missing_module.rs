//! `stale-import/missing-module`: a specifier Node cannot resolve.
//!
//! At run time the importing module fails: a static `import` fails before any code of the
//! module runs (`ERR_MODULE_NOT_FOUND`), `require()` and `import()` throw when the line runs.
//! Typical causes are a file that was moved or deleted while its importers kept the old path,
//! and a package that is not installed. Silent for builtins, guarded loads (`try`/`.catch`),
//! type-only imports, and bare specifiers where the package might be an alias or where no
//! `node_modules` exists yet.

use std::path::Path;

use rustc_hash::FxHashMap;

use super::context::inside_quotes;
use super::{Rule, RuleContext, RuleMeta};
use crate::diagnostic::{Diagnostic, Fix, Severity, TextEdit};
use crate::extract::{ImportKind, ImportSite};
use crate::graph::{FileId, Target};
use crate::resolve::is_path_specifier;

pub struct MissingModule;

static META: RuleMeta = RuleMeta {
    code: "stale-import/missing-module",
    default_severity: Some(Severity::Error),
    summary: "A specifier that Node cannot resolve: the import throws at run time.",
};

impl Rule for MissingModule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> super::Scope {
        super::Scope::Module
    }

    fn check_module(&self, ctx: &RuleContext, id: FileId, out: &mut Vec<Diagnostic>) {
        let Some(module) = ctx.module(id).filter(|m| m.is_evaluated()) else {
            return;
        };
        // A package required inside `try` anywhere in this module is optional here.
        let optional: Vec<&str> = module
            .facts
            .imports
            .iter()
            .filter(|s| s.guarded && !is_path_specifier(&s.specifier))
            .filter_map(|s| crate::resolve::package_name_of(&s.specifier))
            .collect();
        let typescript = crate::resolve::is_typescript_file(ctx.path(id));
        for edge in &module.edges {
            let site = module.site(edge);
            if crate::resolve::package_name_of(&site.specifier)
                .is_some_and(|n| optional.contains(&n))
                && !is_path_specifier(&site.specifier)
            {
                continue;
            }
            // TypeScript keeps `require()` paths as written, relative to the compiled file,
            // which may live elsewhere (`outDir`).
            if typescript && site.kind == ImportKind::Require && is_path_specifier(&site.specifier)
            {
                continue;
            }
            if edge.target != Target::NotFound
                || site.type_only
                || site.guarded
                || site.kind == ImportKind::RequireResolve
            {
                continue;
            }
            let when = match site.kind {
                ImportKind::Static | ImportKind::ReExport => {
                    "the module fails to load before any of its code runs"
                }
                ImportKind::Dynamic => "this import() rejects",
                _ => "this require() throws",
            };
            let message = if is_path_specifier(&site.specifier) {
                format!(
                    "Cannot find module '{}' from {}: no such file; {when}.",
                    site.specifier,
                    ctx.display(id)
                )
            } else {
                let name =
                    crate::resolve::package_name_of(&site.specifier).unwrap_or(&site.specifier);
                format!(
                    "Cannot find package '{name}': it is not installed in any node_modules above {}; {when}. Install it or fix the name.",
                    ctx.display(id)
                )
            };
            let mut diagnostic = ctx.diagnostic(META.code, Severity::Error, id, site.span, message);
            if let Some(moved) = moved_specifier(ctx, id, site) {
                diagnostic.fixes.push(Fix {
                    title: format!("Import '{moved}' instead"),
                    edits: vec![TextEdit {
                        location: ctx.location(id, inside_quotes(site.span)),
                        new_text: moved,
                    }],
                });
            }
            out.push(diagnostic);
        }
    }
}

/// When exactly one workspace file has the name the specifier ends with, the specifier that
/// reaches it from the importer (same file-name spelling, new folder).
fn moved_specifier(ctx: &RuleContext, importer: FileId, site: &ImportSite) -> Option<String> {
    if !is_path_specifier(&site.specifier) {
        return None;
    }
    let last = site
        .specifier
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")?;
    // A deleted file leaves the same specifier missing in many importers, often in one folder:
    // candidates are found once per name, and paths once per pair of folders.
    let candidates = ctx.scratch(|memo: &mut MovedMemo| memo.candidates.get(last).cloned());
    let candidates = match candidates {
        Some(known) => known,
        None => {
            let found: std::rc::Rc<[FileId]> = files_named_like(ctx, last)?.into();
            ctx.scratch(|memo: &mut MovedMemo| {
                memo.candidates.insert(last.to_string(), found.clone())
            });
            found
        }
    };
    let [target] = *candidates
        .iter()
        .copied()
        .filter(|c| *c != importer)
        .collect::<Vec<_>>()
    else {
        return None;
    };
    let from = ctx.path(importer).parent()?;
    let to_dir = ctx.path(target).parent()?;
    let key = (from.to_path_buf(), to_dir.to_path_buf());
    let prefix = match ctx.scratch(|memo: &mut MovedMemo| memo.prefixes.get(&key).cloned()) {
        Some(known) => known?,
        None => {
            let prefix = crate::resolve::relative_specifier(from, to_dir);
            ctx.scratch(|memo: &mut MovedMemo| memo.prefixes.insert(key, prefix.clone()));
            prefix?
        }
    };
    let mut moved = format!("{prefix}/{last}");
    if let Some(suffix) = &site.url_suffix {
        moved.push_str(suffix);
    }
    (moved != site.specifier).then_some(moved)
}

/// What [`moved_specifier`] found in this run.
#[derive(Default)]
struct MovedMemo {
    /// By the specifier's last segment.
    candidates: FxHashMap<String, std::rc::Rc<[FileId]>>,
    /// By (importer folder, target folder).
    prefixes: FxHashMap<(std::path::PathBuf, std::path::PathBuf), Option<String>>,
}

/// The workspace files a specifier ending in `last` may have meant, sorted.
fn files_named_like(ctx: &RuleContext, last: &str) -> Option<Vec<FileId>> {
    let has_extension = Path::new(last).extension().is_some();
    let names: Vec<String> = if has_extension {
        let stem = Path::new(last).file_stem()?.to_str()?;
        let mut names = vec![last.to_string()];
        // `./x.js` may mean `x.ts` (TypeScript's extension rule).
        match Path::new(last).extension().and_then(|e| e.to_str()) {
            Some("js") => names.extend([format!("{stem}.ts"), format!("{stem}.tsx")]),
            Some("mjs") => names.push(format!("{stem}.mts")),
            Some("cjs") => names.push(format!("{stem}.cts")),
            _ => {}
        }
        names
    } else {
        crate::workspace::discover::SOURCE_EXTENSIONS
            .iter()
            .map(|ext| format!("{last}.{ext}"))
            .collect()
    };
    let mut candidates: Vec<FileId> = Vec::new();
    for name in &names {
        candidates.extend(ctx.workspace_files_named(name).iter().copied());
    }
    candidates.sort();
    candidates.dedup();
    Some(candidates)
}
