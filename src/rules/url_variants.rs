//! `duplicate-module/url-variants`: one ES module imported under several URLs.
//!
//! The ES module cache is keyed by URL including query and hash: `./store.mjs` and
//! `./store.mjs?v=2` are two instances of the same file, each with its own state.

use std::collections::{BTreeMap, BTreeSet};

use std::hash::Hash;

use rustc_hash::FxHashSet;

use super::{Rule, RuleContext, RuleMeta, ScanDigest};
use crate::diagnostic::{Diagnostic, Severity};
use crate::extract::{ImportSite, Span};
use crate::graph::{Edge, FileId, Module, ModuleFormat};

pub struct UrlVariants;

/// The sites that import one module (importer, span, specifier as written) and the distinct
/// query/hash suffixes among them.
#[derive(Default)]
struct Variants {
    sites: Vec<(FileId, Span, String)>,
    suffixes: BTreeSet<String>,
}

static META: RuleMeta = RuleMeta {
    code: "duplicate-module/url-variants",
    default_severity: Some(Severity::Warning),
    summary: "One ES module imported under several URLs (query/hash): one instance per URL.",
};

impl Rule for UrlVariants {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scan_digest(&self, module: &Module, digest: &mut ScanDigest) {
        if module.is_workspace() {
            for (edge, site) in suffixed_edges(module) {
                edge.target.hash(digest);
                site.url_suffix.hash(digest);
            }
        }
    }

    fn check_graph(&self, ctx: &RuleContext, out: &mut Vec<Diagnostic>) {
        // Only targets imported at least once with a query or hash can have two URLs.
        let with_suffix: BTreeSet<FileId> = ctx
            .scan_workspace()
            .flat_map(|(_, m)| suffixed_edges(m))
            .filter_map(|(edge, _)| edge.target.module())
            .collect();
        // target → (sites, distinct suffixes)
        let mut by_target: BTreeMap<FileId, Variants> = BTreeMap::new();
        for target in with_suffix {
            if ctx
                .module(target)
                .is_none_or(|m| m.format != ModuleFormat::Esm)
            {
                continue;
            }
            let mut importers: Vec<FileId> = ctx
                .importers(target)
                .iter()
                .copied()
                .filter(|id| ctx.module(*id).is_some_and(|m| m.is_workspace()))
                .collect();
            importers.sort_by(|a, b| ctx.cmp_paths(*a, *b));
            importers.dedup();
            for importer in importers {
                for (edge, site) in ctx.runtime_edges(importer) {
                    if site.cache_busting
                        || !site.kind.uses_import_conditions()
                        || edge.target.module() != Some(target)
                    {
                        continue;
                    }
                    let suffix = site.url_suffix.clone().unwrap_or_default();
                    let entry = by_target.entry(target).or_default();
                    entry.sites.push((
                        importer,
                        site.span,
                        format!("{}{}", site.specifier, suffix),
                    ));
                    entry.suffixes.insert(suffix);
                }
            }
        }
        for (target, Variants { sites, suffixes }) in by_target {
            if suffixes.len() < 2 {
                continue;
            }
            let name = ctx.display(target);
            let urls: Vec<String> = suffixes
                .iter()
                .map(|s| {
                    if s.is_empty() {
                        "no query".into()
                    } else {
                        s.clone()
                    }
                })
                .collect();
            let suffix_of = |w: &str| w[w.find(['?', '#']).unwrap_or(w.len())..].to_string();
            // Per URL: every module a program loading one of its importers also loads.
            let loaded_with: Vec<(String, FxHashSet<FileId>)> = suffixes
                .iter()
                .map(|suffix| {
                    let files: Vec<FileId> = sites
                        .iter()
                        .filter(|(_, _, w)| suffix_of(w) == *suffix)
                        .map(|(f, _, _)| *f)
                        .collect();
                    (suffix.clone(), ctx.loaded_with(&files))
                })
                .collect();
            for (file, span, written) in &sites {
                // Another URL of the same file that one program loads together with this one.
                let own = suffix_of(written);
                let twin = loaded_with
                    .iter()
                    .any(|(suffix, with)| *suffix != own && with.contains(file));
                if !twin {
                    continue;
                }
                let message = format!(
                    "{name} is imported under {} different URLs ({}): each URL is a separate instance of the module with its own state; this one is '{written}'.",
                    suffixes.len(),
                    urls.join(", ")
                );
                let mut diagnostic =
                    ctx.diagnostic(META.code, Severity::Warning, *file, *span, message);
                for (other, other_span, other_written) in &sites {
                    if (other, other_span) != (file, span) {
                        diagnostic.related.push(ctx.related(
                            *other,
                            *other_span,
                            format!("imported as '{other_written}'"),
                        ));
                    }
                }
                out.push(diagnostic);
            }
        }
    }
}

/// Runtime imports with a fixed query or hash, with import conditions.
fn suffixed_edges(module: &Module) -> impl Iterator<Item = (&Edge, &ImportSite)> {
    module.runtime_edges().filter(|(_, site)| {
        site.url_suffix.is_some() && !site.cache_busting && site.kind.uses_import_conditions()
    })
}
