//! Diagnostic rules. One file per rule; each knows its code, default severity and documentation
//! page, and reads the graph through a [`RuleContext`]. The registry below is the only list.
//!
//! To add a rule: write `src/rules/<name>.rs` implementing [`Rule`], add it to [`all`], add
//! `docs/rules/<code>.md` and a fixture under `tests/fixtures/<name>/`.

mod cache_busting;
mod case_mismatch;
mod context;
mod dual_package;
mod esm_cache_delete;
mod import_cycle;
mod missing_export;
mod missing_module;
mod package_copies;
mod partial_invalidation;
mod url_variants;

pub use context::RuleContext;

use crate::diagnostic::{Diagnostic, Severity};
use crate::graph::FileId;
use crate::workspace::Workspace;

/// What a rule is, independent of any graph.
pub struct RuleMeta {
    /// Stable code, part of the interface: `stale-import/missing-module`.
    pub code: &'static str,
    /// `None`: off unless configured.
    pub default_severity: Option<Severity>,
    /// One line for listings and SARIF.
    pub summary: &'static str,
}

impl RuleMeta {
    /// Documentation page, relative to the repository root.
    pub fn doc_path(&self) -> String {
        format!("docs/rules/{}.md", self.code)
    }
}

pub trait Rule: Sync {
    fn meta(&self) -> &'static RuleMeta;

    /// Diagnostics on one workspace module.
    fn check_module(&self, _ctx: &RuleContext, _id: FileId, _out: &mut Vec<Diagnostic>) {}

    /// Diagnostics that need the whole graph (duplicates, cycles).
    fn check_graph(&self, _ctx: &RuleContext, _out: &mut Vec<Diagnostic>) {}
}

static RULES: &[&dyn Rule] = &[
    &missing_module::MissingModule,
    &missing_export::MissingExport,
    &cache_busting::CacheBusting,
    &partial_invalidation::PartialInvalidation,
    &esm_cache_delete::EsmCacheDelete,
    &case_mismatch::CaseMismatch,
    &package_copies::PackageCopies,
    &dual_package::DualPackage,
    &url_variants::UrlVariants,
    &import_cycle::ImportCycle,
];

pub fn all() -> &'static [&'static dyn Rule] {
    RULES
}

pub fn rule(code: &str) -> Option<&'static dyn Rule> {
    RULES.iter().copied().find(|r| r.meta().code == code)
}

/// Runs every enabled rule over the whole workspace. Sorted by file path, then position.
pub fn check(workspace: &Workspace) -> Vec<Diagnostic> {
    let ctx = RuleContext::new(workspace);
    let mut modules: Vec<FileId> = workspace
        .graph()
        .workspace_modules()
        .map(|(id, _)| id)
        .collect();
    modules.sort_by(|a, b| workspace.graph().cmp_paths(*a, *b));
    let mut out = Vec::new();
    for rule in RULES {
        let meta = rule.meta();
        let configured = workspace.config().rules.get(meta.code).copied();
        let severity = match configured {
            Some(level) => level.severity(),
            None => meta.default_severity,
        };
        if severity.is_none() {
            continue;
        }
        let start = out.len();
        let started = std::time::Instant::now();
        for id in &modules {
            rule.check_module(&ctx, *id, &mut out);
        }
        rule.check_graph(&ctx, &mut out);
        tracing::debug!(
            rule = meta.code,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            found = out.len() - start,
            "rule ran"
        );
        // A configured level overrides the rule's own choice; otherwise the rule's stands.
        if let Some(severity) = configured.and_then(|l| l.severity()) {
            for d in &mut out[start..] {
                d.severity = severity;
            }
        }
    }
    sort_diagnostics(workspace, &mut out);
    out.dedup();
    out
}

fn sort_diagnostics(workspace: &Workspace, out: &mut [Diagnostic]) {
    let path = |id: FileId| workspace.graph().path(id).as_os_str();
    out.sort_by(|a, b| {
        path(a.location.file)
            .cmp(path(b.location.file))
            .then(a.location.span.cmp(&b.location.span))
            .then(a.code.cmp(b.code))
            .then(a.message.cmp(&b.message))
    });
}
