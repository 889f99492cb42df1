//! What rules see: the graph, display names, and shared derived facts computed once per run.

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::diagnostic::{Diagnostic, Location, Related, Severity};
use crate::extract::{ImportSite, Span};
use crate::graph::{Edge, FileId, Module, ModuleGraph};
use crate::resolve::{PackageInfo, PackageRoot};
use crate::workspace::Workspace;

pub struct RuleContext<'a> {
    workspace: &'a Workspace,
    graph: &'a ModuleGraph,
    /// What the running graph rule has read so far (`None`: not recording).
    reads: RefCell<Option<Reads>>,
    /// The running rule's scan result from its last run, when nothing it scans changed since.
    memo_in: RefCell<Option<ScanMemo>>,
    /// The modules whose scanned part changed since `memo_in` was built.
    memo_delta: RefCell<Vec<ScanChange>>,
    /// The scan result of this run, for the next.
    memo_out: RefCell<Option<ScanMemo>>,
    packages: RefCell<FxHashMap<FileId, Option<(PackageRoot, PackageInfo)>>>,
    scratch: RefCell<FxHashMap<std::any::TypeId, Box<dyn std::any::Any>>>,
}

impl<'a> RuleContext<'a> {
    pub fn new(workspace: &'a Workspace) -> Self {
        Self {
            workspace,
            graph: workspace.graph(),
            reads: RefCell::new(None),
            memo_in: RefCell::new(None),
            memo_delta: RefCell::default(),
            memo_out: RefCell::new(None),
            packages: RefCell::default(),
            scratch: RefCell::default(),
        }
    }

    /// Starts one graph rule's run: records the modules read through this context, and offers
    /// the rule its last scan result with the modules whose scanned part changed since.
    pub(super) fn begin_graph_rule(&self, memo: Option<ScanMemo>, delta: Vec<ScanChange>) {
        *self.reads.borrow_mut() = Some(Reads::default());
        *self.memo_in.borrow_mut() = memo;
        *self.memo_delta.borrow_mut() = delta;
        *self.memo_out.borrow_mut() = None;
    }

    /// Ends a graph rule's run: what it read and its scan result.
    pub(super) fn end_graph_rule(&self) -> (Reads, Option<ScanMemo>) {
        *self.memo_in.borrow_mut() = None;
        self.memo_delta.borrow_mut().clear();
        (
            self.reads.borrow_mut().take().unwrap_or_default(),
            self.memo_out.borrow_mut().take(),
        )
    }

    /// The result of a rule's scan, kept from its last run and patched with
    /// `update(result, change)` for each module whose [`super::Rule::scan_digest`], format or
    /// origin changed since (the module as it is now is [`Self::scan_module`]). `update` returns
    /// `false` when it cannot patch; the scan is then built again. `build` and `update` may use
    /// only what the digest covers (and paths): nothing else makes them run again.
    pub fn scan_memo_updated<T: std::any::Any + Send + Sync>(
        &self,
        build: impl FnOnce() -> T,
        mut update: impl FnMut(&mut T, &ScanChange) -> bool,
    ) -> Arc<T> {
        let kept = self
            .memo_in
            .borrow_mut()
            .take()
            .and_then(|memo| memo.downcast::<T>().ok());
        let delta = std::mem::take(&mut *self.memo_delta.borrow_mut());
        let patched = kept.and_then(|mut memo| {
            if delta.is_empty() {
                return Some(memo);
            }
            // The runner hands over the only reference, so patching needs no copy.
            let result = Arc::get_mut(&mut memo)?;
            delta
                .iter()
                .all(|change| update(result, change))
                .then_some(memo)
        });
        let memo = patched.unwrap_or_else(|| Arc::new(build()));
        *self.memo_out.borrow_mut() = Some(memo.clone());
        memo
    }

    /// A module as the scan sees it (not noted as read, like [`Self::scan`]).
    pub fn scan_module(&self, id: FileId) -> Option<&'a Module> {
        self.graph.module(id)
    }

    fn note(&self, id: FileId) {
        if let Some(reads) = self.reads.borrow_mut().as_mut() {
            reads.modules.insert(id);
        }
    }

    /// A rule's own cache for this run, created on first use. Rules keep derived data here
    /// (keyed by a type of their own) without the context knowing about it.
    pub fn scratch<T: Default + 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut map = self.scratch.borrow_mut();
        let entry = map
            .entry(std::any::TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()));
        // The entry was created for `T` above.
        match entry.downcast_mut::<T>() {
            Some(value) => f(value),
            None => f(&mut T::default()),
        }
    }

    /// A path for messages: relative to the workspace folder that holds it.
    pub fn display(&self, id: FileId) -> String {
        display_path(self.workspace.roots(), self.graph.path(id))
    }

    /// A folder for messages, relative to its workspace folder.
    pub fn display_dir(&self, dir: &Path) -> String {
        display_path(self.workspace.roots(), dir)
    }

    pub fn location(&self, file: FileId, span: Span) -> Location {
        Location { file, span }
    }

    pub fn diagnostic(
        &self,
        code: &'static str,
        severity: Severity,
        file: FileId,
        span: Span,
        message: String,
    ) -> Diagnostic {
        Diagnostic {
            code,
            severity,
            location: Location { file, span },
            message,
            related: Vec::new(),
            fixes: Vec::new(),
        }
    }

    pub fn related(&self, file: FileId, span: Span, message: String) -> Related {
        Related {
            location: Location { file, span },
            message,
        }
    }

    /// A loaded module. A graph rule that reads it depends on it (see [`Reads`]).
    pub fn module(&self, id: FileId) -> Option<&'a Module> {
        self.note(id);
        self.graph.module(id)
    }

    /// The loaded modules with an edge to `id`. The answer depends on every edge into `id`, so
    /// the list is noted (not the importers' own edges: reading those notes them).
    pub fn importers(&self, id: FileId) -> &'a [FileId] {
        self.note_importers(id, self.graph.importers(id))
    }

    /// Notes that the importer list of `id` was read. The list changes only when an edge into
    /// `id` appears or disappears, which the runner sees on the importer that changed.
    fn note_importers(&self, id: FileId, importers: &'a [FileId]) -> &'a [FileId] {
        if let Some(reads) = self.reads.borrow_mut().as_mut() {
            reads.importers_of.insert(id);
        }
        importers
    }

    /// Whether `id` is a loaded workspace module, without noting a read: the runner runs a rule
    /// again whenever a changed module's origin changed (see [`ScanChange`]).
    pub fn is_workspace(&self, id: FileId) -> bool {
        self.graph.module(id).is_some_and(Module::is_workspace)
    }

    /// Every loaded module, without noting the reads. A rule that scans must say what it reads
    /// from each module in [`super::Rule::scan_digest`]: its results are then kept across
    /// changes that leave the digest of every changed module equal.
    pub fn scan(&self) -> impl Iterator<Item = (FileId, &'a Module)> + use<'a> {
        self.graph.modules()
    }

    /// The workspace modules, without noting the reads (see [`Self::scan`]).
    pub fn scan_workspace(&self) -> impl Iterator<Item = (FileId, &'a Module)> + use<'a> {
        self.graph.workspace_modules()
    }

    /// The whole graph, for algorithms that walk it directly. The rule then depends on every
    /// module.
    pub fn whole_graph(&self) -> &'a ModuleGraph {
        if let Some(reads) = self.reads.borrow_mut().as_mut() {
            reads.everything = true;
        }
        self.graph
    }

    /// A module's path. Paths never change for a `FileId`.
    pub fn path(&self, id: FileId) -> &'a Path {
        self.graph.path(id)
    }

    /// Orders modules by path, for deterministic output.
    pub fn cmp_paths(&self, a: FileId, b: FileId) -> std::cmp::Ordering {
        self.graph.cmp_paths(a, b)
    }

    /// `starts` and the loaded modules reachable from them along edges that `follow` accepts,
    /// noting each module whose edges are read.
    pub fn dependency_closure(
        &self,
        starts: &[FileId],
        follow: impl FnMut(&Module, &ImportSite) -> bool,
    ) -> FxHashSet<FileId> {
        self.graph
            .dependency_closure_visiting(starts, |id| self.note(id), follow)
    }

    pub fn package_of(&self, id: FileId) -> Option<(PackageRoot, PackageInfo)> {
        if let Some(known) = self.packages.borrow().get(&id) {
            return known.clone();
        }
        let found = self.workspace.package_of(id);
        self.packages.borrow_mut().insert(id, found.clone());
        found
    }

    /// Workspace modules by file name (for "the file moved" fixes).
    pub fn workspace_files_named(&self, name: &str) -> &'a [FileId] {
        self.graph.workspace_files_named(name)
    }

    /// An upper bound for [`FileId`] indexes, for tables indexed by them. Reads nothing a
    /// change can make false: ids are never reused.
    pub fn id_bound(&self) -> usize {
        self.graph.len()
    }

    /// The package folder and name of a dependency module, from its path alone.
    pub fn package_root(&self, id: FileId) -> Option<PackageRoot> {
        crate::resolve::package_root_of(self.graph.path(id))
    }

    /// `starts` and every loaded module that (transitively) evaluates one of them.
    pub fn runtime_ancestors(&self, starts: &[FileId]) -> FxHashSet<FileId> {
        let mut seen: FxHashSet<FileId> = starts.iter().copied().collect();
        let mut stack: Vec<FileId> = starts.to_vec();
        while let Some(id) = stack.pop() {
            for &importer in self.runtime_importers(id) {
                if seen.insert(importer) {
                    stack.push(importer);
                }
            }
        }
        seen
    }

    /// The loaded modules that evaluate `id`. Like [`Self::importers`], the list is noted.
    pub fn runtime_importers(&self, id: FileId) -> &'a [FileId] {
        self.note_importers(id, self.graph.runtime_importers(id))
    }

    /// Every module that a program loading any of `files` also loads: the runtime dependencies
    /// of everything that (transitively) evaluates one of them. Computed once and then asked
    /// per site, instead of one [`Self::loaded_together`] walk per pair.
    pub fn loaded_with(&self, files: &[FileId]) -> FxHashSet<FileId> {
        let ancestors: Vec<FileId> = self.runtime_ancestors(files).into_iter().collect();
        self.dependency_closure(&ancestors, |_, site| site.is_runtime())
    }

    /// Whether one module (transitively) evaluates a member of `a` and a member of `b`: only then
    /// can both be loaded in one process. Two separate programs in one workspace (a library's ESM
    /// and CommonJS builds, two apps of a monorepo) never share an instance problem.
    pub fn loaded_together(&self, a: &[FileId], b: &[FileId]) -> bool {
        let from_a = self.runtime_ancestors(a);
        let mut seen: FxHashSet<FileId> = b.iter().copied().collect();
        let mut stack: Vec<FileId> = b.to_vec();
        while let Some(id) = stack.pop() {
            if from_a.contains(&id) {
                return true;
            }
            for &importer in self.runtime_importers(id) {
                if seen.insert(importer) {
                    stack.push(importer);
                }
            }
        }
        false
    }

    /// Workspace modules sorted by path, for deterministic graph rules.
    pub fn sorted_workspace_modules(&self) -> Vec<FileId> {
        let mut ids: Vec<FileId> = self.graph.workspace_modules().map(|(id, _)| id).collect();
        ids.sort_by(|a, b| self.graph.cmp_paths(*a, *b));
        ids
    }

    /// Runtime edges of a module with their sites.
    pub fn runtime_edges(
        &self,
        id: FileId,
    ) -> impl Iterator<Item = (&'a Edge, &'a ImportSite)> + use<'a> {
        self.module(id).into_iter().flat_map(|m| m.runtime_edges())
    }

    /// For every module reachable from `starts` along runtime edges, the edge (importer, site
    /// span) that first reached it in breadth-first order. Gives shortest import chains.
    pub fn first_reached_by(&self, starts: &[FileId]) -> FxHashMap<FileId, (FileId, Span)> {
        self.first_reached(starts, |_| true)
    }

    /// [`Self::first_reached_by`] that enters only modules in `within`.
    pub fn first_reached_within(
        &self,
        starts: &[FileId],
        within: &FxHashSet<FileId>,
    ) -> FxHashMap<FileId, (FileId, Span)> {
        self.first_reached(starts, |id| within.contains(&id))
    }

    fn first_reached(
        &self,
        starts: &[FileId],
        enters: impl Fn(FileId) -> bool,
    ) -> FxHashMap<FileId, (FileId, Span)> {
        let mut parent: FxHashMap<FileId, (FileId, Span)> = FxHashMap::default();
        let mut seen: FxHashSet<FileId> = starts.iter().copied().collect();
        let mut queue: std::collections::VecDeque<FileId> = starts.iter().copied().collect();
        while let Some(id) = queue.pop_front() {
            for (edge, site) in self.runtime_edges(id) {
                let Some(target) = edge.target.module() else {
                    continue;
                };
                if self.graph.is_loaded(target) && enters(target) && seen.insert(target) {
                    parent.insert(target, (id, site.span));
                    queue.push_back(target);
                }
            }
        }
        parent
    }

    /// The chain of modules from a start to `id` using [`Self::first_reached_by`]'s result.
    pub fn chain_to(
        &self,
        parents: &FxHashMap<FileId, (FileId, Span)>,
        id: FileId,
    ) -> Vec<(FileId, Span)> {
        let mut chain = Vec::new();
        let mut current = id;
        let mut guard = 0;
        while let Some(&(parent, span)) = parents.get(&current) {
            chain.push((parent, span));
            current = parent;
            guard += 1;
            if guard > 10_000 {
                break;
            }
        }
        chain.reverse();
        chain
    }

    /// Short name of a module for chains: package name for dependency entries, else the path.
    pub fn short_name(&self, id: FileId) -> String {
        match self.package_of(id) {
            Some((root, _)) => {
                let inner = self
                    .graph
                    .path(id)
                    .strip_prefix(&root.dir)
                    .ok()
                    .map(|p| p.display().to_string());
                match inner {
                    Some(inner) => format!("{}/{}", root.name, inner),
                    None => root.name,
                }
            }
            None => self.display(id),
        }
    }
}

/// The modules the `delete require.cache[…]` statements of `module` remove, paired with the
/// delete. `None` when any key is unknowable or the whole cache is cleared: then nothing is
/// certain.
pub fn cache_deletions(
    module: &Module,
) -> Option<Vec<(&crate::extract::CacheDelete, Option<FileId>)>> {
    let facts = &module.facts;
    if facts.clears_whole_cache
        || facts
            .cache_deletes
            .iter()
            .any(|d| d.key == crate::extract::CacheKey::Unknown)
    {
        return None;
    }
    Some(
        facts
            .cache_deletes
            .iter()
            .map(|delete| (delete, deleted_module(module, delete)))
            .collect(),
    )
}

/// The module a `delete require.cache[…]` of `module` removes: the target of the
/// `require.resolve`-like site inside its key.
pub fn deleted_module(module: &Module, delete: &crate::extract::CacheDelete) -> Option<FileId> {
    module
        .edges
        .iter()
        .find(|e| {
            let site = module.site(e);
            site.kind == crate::extract::ImportKind::RequireResolve
                && site.span.start >= delete.key_span.start
                && site.span.end <= delete.key_span.end
        })
        .and_then(|e| e.target.module())
}

/// `path` relative to the workspace folder that holds it, else absolute.
pub fn display_path(roots: &[std::path::PathBuf], path: &Path) -> String {
    roots
        .iter()
        .filter_map(|r| path.strip_prefix(r).ok())
        .min_by_key(|p| p.as_os_str().len())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| path.display().to_string())
}

/// The span inside a string literal's quotes (specifier spans include their quotes).
pub fn inside_quotes(span: Span) -> Span {
    if span.end >= span.start + 2 {
        Span::new(span.start + 1, span.end - 1)
    } else {
        span
    }
}

/// A list of names for a message: `a, b and 3 more`.
pub fn name_list(names: &[String], max: usize) -> String {
    let shown: Vec<&str> = names.iter().take(max).map(String::as_str).collect();
    let mut text = shown.join(", ");
    if names.len() > max {
        text.push_str(&format!(" and {} more", names.len() - max));
    }
    text
}

/// A graph rule's scan result, kept between runs by the rules runner.
pub type ScanMemo = Arc<dyn std::any::Any + Send + Sync>;

/// A module whose scanned part ([`super::Rule::scan_digest`], format or origin) changed since a
/// kept scan was built, with what it was then (`None`: not loaded).
pub struct ScanChange {
    pub id: FileId,
    pub before: Option<Module>,
}

/// What a graph rule's run read through its [`RuleContext`]: the modules whose edges and facts it
/// read, and the modules whose importer lists it asked for. The results stay true after a change
/// of any other module that adds or removes no edge into the second set (the rules runner checks
/// this).
#[derive(Default)]
pub struct Reads {
    pub modules: FxHashSet<FileId>,
    pub importers_of: FxHashSet<FileId>,
    /// The rule read the graph as a whole: any structural change runs it again.
    pub everything: bool,
}
