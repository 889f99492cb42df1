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
mod pending;
pub mod runtime_outdated;
mod url_variants;

pub use context::RuleContext;
pub use pending::PendingChanges;

use std::hash::Hasher;

use crate::diagnostic::{Diagnostic, Severity};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::graph::{FileId, Module, ModuleGraph};
use crate::workspace::Workspace;
use context::{Reads, ScanChange, ScanMemo};

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

/// What a rule's result for a module depends on, which decides when it must run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The module's own facts and edges, the facts of the modules it imports directly, and the
    /// export lists behind their `export *` chains.
    Module,
    /// Anything in the graph (closures, every importer, duplicates across the workspace).
    Graph,
}

pub trait Rule: Sync {
    fn meta(&self) -> &'static RuleMeta;

    /// Rules that say nothing else depend on the whole graph.
    fn scope(&self) -> Scope {
        Scope::Graph
    }

    /// Diagnostics on one workspace module (rules of [`Scope::Module`]).
    fn check_module(&self, _ctx: &RuleContext, _id: FileId, _out: &mut Vec<Diagnostic>) {}

    /// Diagnostics that need the whole graph (rules of [`Scope::Graph`]: duplicates, cycles).
    /// The graph is read through the context, which notes what the results depend on.
    fn check_graph(&self, _ctx: &RuleContext, _out: &mut Vec<Diagnostic>) {}

    /// Feeds `digest` with what [`Rule::check_module`] reads of a module that the checked
    /// module imports (directly, or through `export *` chains). When a module changes and no
    /// module rule's digest of it does, its importers keep their results. Positions need not be
    /// fed; rules that read only the checked module feed nothing.
    fn dependency_digest(&self, _module: &Module, _digest: &mut ScanDigest) {}

    /// Feeds `state` with everything a graph rule reads from `module` through
    /// [`RuleContext::scan`] or [`RuleContext::scan_workspace`] (reads through the other
    /// accessors are noted by the context). Positions need not be fed. Rules that never scan
    /// feed nothing.
    fn scan_digest(&self, _module: &Module, _digest: &mut ScanDigest) {}
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
    &runtime_outdated::RuntimeOutdated,
];

pub fn all() -> &'static [&'static dyn Rule] {
    RULES
}

pub fn rule(code: &str) -> Option<&'static dyn Rule> {
    RULES.iter().copied().find(|r| r.meta().code == code)
}

/// Runs every enabled rule over the whole workspace. Sorted by file path, then position.
pub fn check(workspace: &Workspace) -> Vec<Diagnostic> {
    check_incremental(workspace, &mut RuleCache::default(), None)
}

/// Results kept between runs so that a change re-runs only what it can affect.
#[derive(Default)]
pub struct RuleCache {
    /// Module-scope results per workspace module, for the modules that have some: every run
    /// gathers them all, and nearly all modules have none.
    per_module: FxHashMap<FileId, Vec<Diagnostic>>,
    /// Graph-scope results per rule code, with what each run read.
    graph: FxHashMap<&'static str, GraphRun>,
    /// Whether the cache holds a complete run.
    complete: bool,
}

/// One graph rule's last results and the modules they were computed from.
struct GraphRun {
    found: Vec<Diagnostic>,
    reads: Reads,
    memo: Option<ScanMemo>,
}

/// What changed since the last run with a [`RuleCache`].
pub struct Changes<'a> {
    /// Modules whose content changed.
    pub modules: &'a FxHashSet<FileId>,
    /// Whether the graph's structure changed (`ApplyResult::structure`), not only positions.
    pub structure: bool,
    /// The changed modules as they were at the last run (`None`: not loaded then). A changed
    /// module missing here makes every graph rule run again.
    pub previous: &'a FxHashMap<FileId, Option<Module>>,
    /// Whether workspace files appeared or disappeared: suggestions that name files (the moved
    /// file of a missing module) may change in any module that has diagnostics.
    pub files_changed: bool,
}

impl RuleCache {
    fn keep_module_results(
        &mut self,
        results: impl IntoIterator<Item = (FileId, Vec<Diagnostic>)>,
    ) {
        for (id, found) in results {
            if found.is_empty() {
                self.per_module.remove(&id);
            } else {
                self.per_module.insert(id, found);
            }
        }
    }

    /// Every cached diagnostic, sorted.
    fn all(&self, workspace: &Workspace) -> Vec<Diagnostic> {
        let mut out: Vec<Diagnostic> = self
            .per_module
            .values()
            .flatten()
            .chain(self.graph.values().flat_map(|run| run.found.iter()))
            .cloned()
            .collect();
        sort_diagnostics(workspace, &mut out);
        out.dedup();
        out
    }
}

/// Runs the rules. `changes`: what changed since the last run with this cache (`None`: files
/// appeared, disappeared or everything may have changed, so run all). Returns every current
/// diagnostic, sorted.
pub fn check_incremental(
    workspace: &Workspace,
    cache: &mut RuleCache,
    changes: Option<Changes>,
) -> Vec<Diagnostic> {
    let changed = changes.as_ref().map(|c| c.modules);
    let graph = workspace.graph();
    let modules: Vec<FileId> = match changed.filter(|_| cache.complete) {
        Some(changed) => {
            let previous = changes.as_ref().map(|c| c.previous);
            let mut affected = affected_by(workspace, changed, previous);
            if changes.as_ref().is_some_and(|c| c.files_changed) {
                affected.extend(cache.per_module.keys().copied());
            }
            let mut affected: Vec<FileId> = affected.into_iter().collect();
            affected.retain(|id| graph.module(*id).is_some_and(|m| m.is_workspace()));
            for id in changed {
                if !graph.is_loaded(*id) {
                    cache.per_module.remove(id);
                }
            }
            affected
        }
        None => {
            cache.per_module.clear();
            graph.workspace_modules().map(|(id, _)| id).collect()
        }
    };
    // Graph rules that must run again, each with its last scan and what changed in it since
    // (the run replaces the scan, so it is handed over, not shared).
    let mut pending = Vec::new();
    let links = changes.as_ref().map(|c| ChangedLinks::of(graph, c));
    for rule in RULES.iter().filter(|r| r.scope() == Scope::Graph) {
        let code = rule.meta().code;
        let run = cache.graph.get_mut(code).filter(|_| cache.complete);
        let (memo, delta) = match (&changes, &links, run) {
            (Some(changes), Some(links), Some(run)) => {
                let delta = scan_delta(*rule, graph, changes);
                if let Some(delta) = &delta
                    && still_valid(run, delta, links, changes)
                {
                    continue;
                }
                match delta {
                    Some(delta) => (run.memo.take(), delta),
                    None => (None, Vec::new()),
                }
            }
            _ => (None, Vec::new()),
        };
        pending.push((*rule, memo, delta));
    }
    // Module rules and graph rules read the graph only: they run side by side, each with a
    // context of its own. Results go into the cache in the same order as one after the other.
    // Modules in chunks, so that the module rules take the other thread too once the graph
    // rules are done (each chunk has its own context: contexts are not shared across threads).
    const CHUNK: usize = 64;
    let module_rules: Vec<&dyn Rule> = RULES
        .iter()
        .copied()
        .filter(|r| r.scope() == Scope::Module)
        .collect();
    let check_modules = |chunk: &[FileId]| {
        let ctx = RuleContext::new(workspace);
        chunk
            .iter()
            .map(|id| {
                let mut found = Vec::new();
                for rule in &module_rules {
                    run_rule(workspace, *rule, &mut found, |out| {
                        rule.check_module(&ctx, *id, out)
                    });
                }
                (*id, found)
            })
            .collect::<Vec<_>>()
    };
    // An edit usually leaves one chunk of modules and no graph rule to run: handing that to the
    // thread pool and waiting for it would cost more than the work.
    if pending.is_empty() && modules.len() <= CHUNK {
        cache.keep_module_results(check_modules(&modules));
        cache.complete = true;
        return cache.all(workspace);
    }
    let run_module_rules = || {
        use rayon::prelude::*;
        modules
            .par_chunks(CHUNK)
            .flat_map_iter(check_modules)
            .collect::<Vec<_>>()
    };
    // Graph rules are independent of each other: each runs with a context of its own.
    let run_graph_rules = move || {
        use rayon::prelude::*;
        pending
            .into_par_iter()
            .map(|(rule, memo, delta)| {
                let ctx = RuleContext::new(workspace);
                let code = rule.meta().code;
                let started = std::time::Instant::now();
                let mut found = Vec::new();
                ctx.begin_graph_rule(memo, delta);
                run_rule(workspace, rule, &mut found, |out| {
                    rule.check_graph(&ctx, out)
                });
                let (reads, memo) = ctx.end_graph_rule();
                tracing::debug!(
                    rule = code,
                    elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                    reads = reads.modules.len(),
                    importer_lists = reads.importers_of.len(),
                    "rule ran"
                );
                (code, GraphRun { found, reads, memo })
            })
            .collect::<Vec<_>>()
    };
    let (per_module, graph_runs) = rayon::join(run_module_rules, run_graph_rules);
    cache.keep_module_results(per_module);
    cache.graph.extend(graph_runs);
    cache.complete = true;
    cache.all(workspace)
}

/// Whether a graph rule's last results are still its results after `changes`, given the
/// changed modules whose scanned part differs (`delta`).
///
/// Results that point into a changed module can be off, and so can any result when what the
/// rule scans of a changed module changed (see [`scan_delta`]: also a format or origin change,
/// appearing or disappearing with something to scan), and so can any result when the rule read
/// the edges or facts of a changed module: facts change without any edge changing (a module
/// that parses now). Beyond that, without a structural change only positions moved. With one,
/// a changed module matters when it adds or removes an edge into a module whose importers the
/// rule asked for, and when it appeared or disappeared while the rule read the edges of an
/// importer of it (an edge into a module that is not loaded leads nowhere).
fn still_valid(
    run: &GraphRun,
    delta: &[ScanChange],
    links: &ChangedLinks,
    changes: &Changes,
) -> bool {
    let points_into_changed = run.found.iter().any(|d| {
        changes.modules.contains(&d.location.file)
            || d.related
                .iter()
                .any(|r| changes.modules.contains(&r.location.file))
    });
    // What a rule scans may change without the structure changing (a `delete
    // require.cache[…]` with no import site in it).
    if points_into_changed || !delta.is_empty() {
        return false;
    }
    let reads = &run.reads;
    if (reads.everything && !changes.modules.is_empty())
        || changes.modules.iter().any(|id| reads.modules.contains(id))
    {
        return false;
    }
    if !changes.structure {
        return true;
    }
    !(links
        .lists_touched
        .iter()
        .any(|t| reads.importers_of.contains(t))
        || links
            .came_or_went
            .iter()
            .any(|id| reads.importers_of.contains(id))
        || links
            .importers_of_came_or_went
            .iter()
            .any(|i| reads.modules.contains(i)))
}

/// How the changed modules are linked to others, computed once for all graph rules.
struct ChangedLinks {
    /// Modules whose importer lists differ (see [`crate::graph::importer_lists_touched`]).
    lists_touched: FxHashSet<FileId>,
    /// Changed modules that appeared or disappeared.
    came_or_went: Vec<FileId>,
    /// The loaded importers of those.
    importers_of_came_or_went: FxHashSet<FileId>,
}

impl ChangedLinks {
    fn of(graph: &ModuleGraph, changes: &Changes) -> Self {
        let mut links = Self {
            lists_touched: FxHashSet::default(),
            came_or_went: Vec::new(),
            importers_of_came_or_went: FxHashSet::default(),
        };
        for id in changes.modules {
            let before = changes.previous.get(id).and_then(Option::as_ref);
            let now = graph.module(*id);
            links
                .lists_touched
                .extend(crate::graph::importer_lists_touched(before, now));
            if before.is_none() != now.is_none() {
                links.came_or_went.push(*id);
                links
                    .importers_of_came_or_went
                    .extend(graph.importers(*id).iter().copied());
            }
        }
        links
    }
}

/// The changed modules whose scanned part differs ([`scan_unchanged`]), each with what it was
/// before; `None` when a change's previous state is unknown.
fn scan_delta(rule: &dyn Rule, graph: &ModuleGraph, changes: &Changes) -> Option<Vec<ScanChange>> {
    let mut delta = Vec::new();
    for id in changes.modules {
        let before = changes.previous.get(id)?;
        let same = match (before, graph.module(*id)) {
            (Some(before), Some(now)) => {
                before.format == now.format
                    && before.certainty == now.certainty
                    && before.origin == now.origin
                    && same_digest(|m, d| rule.scan_digest(m, d), before, Some(now))
            }
            (None, Some(module)) | (Some(module), None) => {
                same_digest(|m, d| rule.scan_digest(m, d), module, None)
            }
            (None, None) => true,
        };
        if !same {
            delta.push(ScanChange {
                id: *id,
                before: before.clone(),
            });
        }
    }
    Some(delta)
}

/// What a rule scans of one module ([`Rule::scan_digest`]): values are fed with
/// [`std::hash::Hash`] and kept as bytes, so that equal digests mean equal inputs.
#[derive(Default, PartialEq, Eq)]
pub struct ScanDigest(Vec<u8>);

impl Hasher for ScanDigest {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn finish(&self) -> u64 {
        // Never used as a hash: the bytes are compared.
        0
    }
}

/// Whether `feed` gives `a` and `b` the same digest (`b`: `None` for the digest of nothing).
/// A change can compare thousands of modules for every rule: the buffers are kept.
fn same_digest(feed: impl Fn(&Module, &mut ScanDigest), a: &Module, b: Option<&Module>) -> bool {
    thread_local! {
        static BUFFERS: std::cell::RefCell<(ScanDigest, ScanDigest)> = Default::default();
    }
    BUFFERS.with_borrow_mut(|(x, y)| {
        x.0.clear();
        y.0.clear();
        feed(a, x);
        if let Some(b) = b {
            feed(b, y);
        }
        x == y
    })
}

/// Runs one rule through `body` unless it is off, then applies a configured level (which
/// overrides the rule's own choice of severity).
fn run_rule(
    workspace: &Workspace,
    rule: &dyn Rule,
    out: &mut Vec<Diagnostic>,
    body: impl FnOnce(&mut Vec<Diagnostic>),
) {
    let meta = rule.meta();
    let configured = workspace.config().rules.get(meta.code).copied();
    let severity = match configured {
        Some(level) => level.severity(),
        None => meta.default_severity,
    };
    if severity.is_none() {
        return;
    }
    let start = out.len();
    body(out);
    if let Some(severity) = configured.and_then(|l| l.severity()) {
        for d in &mut out[start..] {
            d.severity = severity;
        }
    }
}

/// Modules whose module-scope results may change when `changed` changed: the modules
/// themselves and, for those that importers see differently now ([`Rule::dependency_digest`]),
/// the modules re-exporting them through `export *` (transitively) and the direct importers of
/// all of these.
fn affected_by(
    workspace: &Workspace,
    changed: &FxHashSet<FileId>,
    previous: Option<&FxHashMap<FileId, Option<Module>>>,
) -> FxHashSet<FileId> {
    let graph = workspace.graph();
    let module_rules: Vec<&dyn Rule> = RULES
        .iter()
        .copied()
        .filter(|r| r.scope() == Scope::Module)
        .collect();
    let seen_differently = |id: &FileId| {
        let before = previous.and_then(|p| p.get(id));
        match (before, graph.module(*id)) {
            (Some(Some(before)), Some(now)) => module_rules
                .iter()
                .any(|r| !same_digest(|m, d| r.dependency_digest(m, d), before, Some(now))),
            _ => true,
        }
    };
    let mut reexported: FxHashSet<FileId> =
        changed.iter().copied().filter(seen_differently).collect();
    let mut frontier: Vec<FileId> = reexported.iter().copied().collect();
    while let Some(id) = frontier.pop() {
        for &importer in graph.importers(id) {
            let Some(module) = graph.module(importer) else {
                continue;
            };
            let stars = module.facts.exports.star_sites.iter().any(|site| {
                module
                    .edges
                    .iter()
                    .any(|e| e.site == *site && e.target.module() == Some(id))
            });
            if stars && reexported.insert(importer) {
                frontier.push(importer);
            }
        }
    }
    let mut affected = reexported.clone();
    affected.extend(changed.iter().copied());
    for id in &reexported {
        affected.extend(graph.importers(*id).iter().copied());
    }
    affected
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
