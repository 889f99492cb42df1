//! The workspace: roots, configuration, the resolver and the module graph, kept up to date by
//! [`Workspace::apply`]. This layer owns all file-system IO; `extract` and `graph` do none.

pub mod discover;
mod index;
pub mod loader;
mod progress;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::config::{Config, ConfigError};
use crate::graph::{Edge, FileId, Module, ModuleGraph, Origin, Target};
use crate::resolve::{ModuleResolver, PackageInfo, PackageRoot, Resolved, package_root_of};
use discover::WorkspaceFilter;
use index::SpecifierIndex;
pub use loader::LoadStats;
use loader::{LoadedModule, LoaderCaches, Overlays};
pub use progress::LoadProgress;

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("cannot open workspace folder {path}: {source}")]
    Root {
        path: String,
        source: std::io::Error,
    },
    #[error("workspace folder {0} is not a directory")]
    NotADirectory(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What a workspace keeps beyond what the rules need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkspaceOptions {
    /// Read, parse and resolve declaration files (`.d.ts`). No rule depends on them (they never
    /// run), but navigation and `graph` show their type-level edges.
    pub declaration_files: bool,
    /// Index the specifiers while loading (see `SpecifierIndex`). Without it the first
    /// [`Workspace::apply`] builds the index: for a graph that is built once and never
    /// changed (`check`).
    pub specifier_index: bool,
}

impl Default for WorkspaceOptions {
    fn default() -> Self {
        Self {
            declaration_files: true,
            specifier_index: true,
        }
    }
}

/// Which import sites of a module to resolve again.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SiteSet {
    Every,
    /// Site indices, in any order.
    Some(Vec<u32>),
}

impl SiteSet {
    fn add(&mut self, site: u32) {
        if let SiteSet::Some(sites) = self {
            sites.push(site);
        }
    }
}

/// Sites to resolve again, per module.
type AffectedSites = FxHashMap<FileId, SiteSet>;

fn add_site(affected: &mut AffectedSites, id: FileId, site: u32) {
    affected
        .entry(id)
        .or_insert_with(|| SiteSet::Some(Vec::new()))
        .add(site);
}

/// A change on disk (or in an editor buffer) that the graph must follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// The content changed (read again from the overlay or disk).
    Changed(PathBuf),
    Created(PathBuf),
    Deleted(PathBuf),
}

/// What an [`Workspace::apply`] changed.
#[derive(Debug, Default, Clone)]
pub struct ApplyResult {
    /// Modules whose facts or edges changed, or that appeared or disappeared.
    pub changed: FxHashSet<FileId>,
    /// The whole workspace was rebuilt (configuration or `.gitignore` changed).
    pub rebuilt: bool,
    /// The graph's structure changed: a module appeared or disappeared, or an import site's
    /// kind, specifier, query, flags or target changed (not only its position).
    pub structure: bool,
    /// What each module in `changed` was before this change (`None`: it was not loaded), so
    /// that rules can tell which of their inputs changed. Empty after a rebuild.
    pub previous: FxHashMap<FileId, Option<Module>>,
}

pub struct Workspace {
    config: Config,
    filter: WorkspaceFilter,
    resolver: ModuleResolver,
    caches: LoaderCaches,
    overlays: Overlays,
    graph: ModuleGraph,
    /// `None` until needed when `WorkspaceOptions::specifier_index` is off.
    index: Option<SpecifierIndex>,
    /// Package manifests by package folder (path bytes as key).
    packages: dashmap::DashMap<Box<[u8]>, Option<PackageInfo>, rustc_hash::FxBuildHasher>,
    stats: LoadStats,
    /// Thread time of the loading workers in the current load (see [`LoadStats`]).
    worker_times: loader::WorkerTimes,
    options: WorkspaceOptions,
    /// Set while applying a change when the structure changed (see `ApplyResult::structure`).
    structure_changed: bool,
    /// The modules as they were before the change being applied (first value per module).
    previous: FxHashMap<FileId, Option<Module>>,
    /// Set while `apply` runs: only then is `previous` kept.
    applying: bool,
    /// Counts loaded files and carries a cancel; a fresh handle once the first load is over,
    /// so that a cancelled load does not stop later changes.
    progress: Arc<LoadProgress>,
    /// The walk found more source files than `maxFiles`: (found, limit).
    file_limit: Option<(usize, usize)>,
}

/// How many workspace files are indexed at most unless `maxFiles` says otherwise.
pub const DEFAULT_MAX_FILES: usize = 200_000;

/// One import site as the graph-wide rules see it: kind, specifier, query, flags, target.
type SiteShape<'m> = (
    crate::extract::ImportKind,
    &'m str,
    Option<&'m str>,
    [bool; 3],
    &'m Target,
);

/// What of a module the graph-wide rules see, positions aside.
fn structure(module: &Module) -> Vec<SiteShape<'_>> {
    module
        .edges
        .iter()
        .map(|e| {
            let site = module.site(e);
            (
                site.kind,
                site.specifier.as_str(),
                site.url_suffix.as_deref(),
                [site.type_only, site.cache_busting, site.guarded],
                &e.target,
            )
        })
        .collect()
}

/// Names of files whose change can alter how every specifier resolves.
const RESOLUTION_MANIFESTS: &[&str] = &["package.json", "tsconfig.json", "jsconfig.json"];

impl Workspace {
    /// Opens the given folders as one workspace, reading `modgraph.json` from the first.
    pub fn open(roots: &[PathBuf]) -> Result<Self, WorkspaceError> {
        Self::open_with(roots, WorkspaceOptions::default())
    }

    /// [`Workspace::open`] with options.
    pub fn open_with(roots: &[PathBuf], options: WorkspaceOptions) -> Result<Self, WorkspaceError> {
        Self::open_with_progress(roots, options, Arc::default())
    }

    /// [`Workspace::open_with`] that counts files into `progress` and stops loading when it is
    /// cancelled: the graph then holds the modules loaded so far (see [`LoadProgress`]).
    pub fn open_with_progress(
        roots: &[PathBuf],
        options: WorkspaceOptions,
        progress: Arc<LoadProgress>,
    ) -> Result<Self, WorkspaceError> {
        let roots = canonical_roots(roots)?;
        let config = match roots.first() {
            Some(root) => Config::load(root)?,
            None => Config::default(),
        };
        Ok(Self::with_config_and_overlays(
            roots,
            config,
            Overlays::default(),
            options,
            progress,
        ))
    }

    /// Builds the workspace from already canonical roots with a given configuration.
    pub fn with_options(roots: Vec<PathBuf>, config: Config, options: WorkspaceOptions) -> Self {
        Self::with_options_progress(roots, config, options, Arc::default())
    }

    /// [`Workspace::with_options`] with a progress handle (see [`Workspace::open_with_progress`]).
    pub fn with_options_progress(
        roots: Vec<PathBuf>,
        config: Config,
        options: WorkspaceOptions,
        progress: Arc<LoadProgress>,
    ) -> Self {
        Self::with_config_and_overlays(roots, config, Overlays::default(), options, progress)
    }

    /// Builds the workspace from already canonical roots.
    pub fn with_config(roots: Vec<PathBuf>, config: Config) -> Self {
        Self::with_config_and_overlays(
            roots,
            config,
            Overlays::default(),
            WorkspaceOptions::default(),
            Arc::default(),
        )
    }

    /// Time spent building the graph (the first load and every change since).
    pub fn stats(&self) -> LoadStats {
        self.stats
    }

    pub fn graph(&self) -> &ModuleGraph {
        &self.graph
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes new rule levels without touching the graph. Other keys (ignore globs, conditions)
    /// change what is indexed: those need a new workspace.
    pub fn set_rule_levels(
        &mut self,
        rules: std::collections::BTreeMap<String, crate::config::RuleLevel>,
    ) {
        self.config.rules = rules;
    }

    pub fn roots(&self) -> &[PathBuf] {
        self.filter.roots()
    }

    /// Files that could not be used, with the reason (sorted by path).
    /// When the walk found more source files than the limit: what to tell the user.
    pub fn file_limit_message(&self) -> Option<String> {
        let (found, limit) = self.file_limit?;
        Some(format!(
            "the workspace has {found} source files, more than the limit of {limit}: only the first \
             {limit} (in path order) are indexed. Ignore generated or vendored folders with \
             \"ignore\" in modgraph.json, or raise \"maxFiles\""
        ))
    }

    pub fn notes(&self) -> Vec<(PathBuf, String)> {
        let mut notes: Vec<(PathBuf, String)> = self
            .caches
            .notes
            .iter()
            .chain(self.resolver.problems.iter())
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        notes.sort();
        notes
    }

    /// Name and version of the installed package a file belongs to.
    pub fn package_of(&self, id: FileId) -> Option<(PackageRoot, PackageInfo)> {
        let root = package_root_of(self.graph.path(id))?;
        let info = self
            .packages
            .entry(root.dir.as_os_str().as_encoded_bytes().into())
            .or_insert_with(|| {
                std::fs::read(root.dir.join("package.json"))
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<PackageInfo>(&bytes).ok())
            })
            .clone()
            .unwrap_or_default();
        Some((root, info))
    }

    /// Sets or clears the editor text of a file. Follow with [`FileChange::Changed`].
    pub fn set_overlay(&mut self, path: &Path, text: Option<Arc<str>>) {
        match text {
            Some(text) => {
                self.overlays
                    .insert(path.as_os_str().as_encoded_bytes().into(), text);
            }
            None => {
                self.overlays.remove(path.as_os_str().as_encoded_bytes());
            }
        }
    }

    /// The graph side of the workspace, borrowed apart from the resolver.
    fn inserter(&mut self) -> Inserter<'_> {
        self.split_loading().0
    }

    /// The graph side and the loading side, borrowed together.
    fn split_loading(&mut self) -> (Inserter<'_>, loader::LoadContext<'_>) {
        let inserter = Inserter {
            graph: &mut self.graph,
            index: self.index.as_mut(),
            filter: &self.filter,
            structure_changed: &mut self.structure_changed,
            previous: &mut self.previous,
            applying: self.applying,
        };
        let cx = loader::LoadContext {
            resolver: &self.resolver,
            caches: &self.caches,
            overlays: &self.overlays,
            progress: &self.progress,
            times: &self.worker_times,
        };
        (inserter, cx)
    }

    /// Puts resolved modules in the graph, then loads the modules their edges reach, until
    /// none is new.
    fn insert_batch(&mut self, batch: Vec<LoadedModule>, changed: &mut FxHashSet<FileId>) {
        let started = std::time::Instant::now();
        let mut next = Vec::new();
        let mut inserter = self.inserter();
        // Members of this batch are being loaded already.
        let mut pending: FxHashSet<FileId> = batch
            .iter()
            .map(|l| inserter.graph.intern(&l.path))
            .collect();
        for loaded in batch {
            inserter.insert(loaded, None, &mut next, &mut pending, changed);
        }
        self.stats.graph += started.elapsed();
        self.load(next, None, changed);
    }

    /// Loads `paths` and every module their edges reach. `origin` is known for `paths` when
    /// they come from the walk.
    ///
    /// Workers read, parse and resolve runs of files. A worker that finishes a run puts its
    /// modules in the graph itself when no other worker is doing so, and starts runs for the
    /// files their edges reach; otherwise it leaves them for the worker that is. Nothing waits
    /// for a whole batch, and no thread waits for the others: a large file late in a batch does
    /// not leave the other cores idle. Modules go in in any order; nothing in the graph depends
    /// on it.
    fn load(
        &mut self,
        paths: Vec<PathBuf>,
        origin: Option<Origin>,
        changed: &mut FxHashSet<FileId>,
    ) {
        if paths.is_empty() {
            return;
        }
        let started = std::time::Instant::now();
        self.worker_times = loader::WorkerTimes::default();
        let (inserter, cx) = self.split_loading();
        cx.progress.add_total(paths.len());
        cx.progress.listed();
        let loading = Loading {
            graph_side: std::sync::Mutex::new(GraphSide {
                inserter,
                pending: FxHashSet::default(),
                changed,
                files: paths.len(),
                time: std::time::Duration::ZERO,
            }),
            arrived: std::sync::Mutex::new(Vec::new()),
            ready: std::sync::atomic::AtomicBool::new(false),
            cx,
        };
        rayon::in_place_scope(|scope| {
            let (loading, first) = (&loading, &paths);
            scope.spawn(move |scope| {
                use rayon::prelude::*;
                first
                    .par_chunks(loader::RUN_FILES)
                    .for_each(|run| loading.run(scope, run, origin));
            });
            // Before any module goes in: its edges must not start a run for a file of this
            // batch. The workers keep what they finish meanwhile.
            {
                let mark = std::time::Instant::now();
                let mut side = lock(&loading.graph_side);
                let side = &mut *side;
                side.inserter.graph.reserve(paths.len());
                side.pending = paths
                    .iter()
                    .map(|p| side.inserter.graph.intern(p))
                    .collect();
                side.time += mark.elapsed();
            }
            loading
                .ready
                .store(true, std::sync::atomic::Ordering::Release);
            loading.insert_arrived(scope);
        });
        let side = loading
            .graph_side
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (files, time) = (side.files, side.time);
        self.worker_times.add_to(&mut self.stats);
        self.stats.graph += time;
        self.stats.load += started.elapsed();
        self.stats.parsed_files += files;
    }

    /// Re-resolves every site of the given loaded modules, keeping their facts.
    fn reresolve(&mut self, ids: &FxHashSet<FileId>, changed: &mut FxHashSet<FileId>) {
        let sites = ids
            .iter()
            .map(|id| (*id, SiteSet::Every))
            .collect::<FxHashMap<_, _>>();
        self.reresolve_sites(&sites, changed);
    }

    /// Re-resolves the given sites of loaded modules, keeping their facts and their other
    /// edges. A layout change re-resolves only the sites that can name the path: resolving the
    /// others again would give the same edges, at the price of cold resolver caches.
    fn reresolve_sites(
        &mut self,
        sites: &FxHashMap<FileId, SiteSet>,
        changed: &mut FxHashSet<FileId>,
    ) {
        let mut ids: Vec<FileId> = sites
            .keys()
            .copied()
            .filter(|id| self.graph.is_loaded(*id))
            .collect();
        ids.sort();
        type Job = (FileId, PathBuf, Arc<crate::extract::ModuleFacts>, Vec<u32>);
        let jobs: Vec<Job> = ids
            .iter()
            .filter_map(|id| {
                let module = self.graph.module(*id)?;
                let count = module.facts.imports.len();
                // Edges are one per site, in site order; anything else is resolved whole.
                let whole = module.edges.len() != count
                    || module
                        .edges
                        .iter()
                        .enumerate()
                        .any(|(i, e)| e.site as usize != i);
                let which: Vec<u32> = match sites.get(id) {
                    Some(SiteSet::Some(which)) if !whole => {
                        let mut which: Vec<u32> = which
                            .iter()
                            .copied()
                            .filter(|i| (*i as usize) < count)
                            .collect();
                        which.sort_unstable();
                        which.dedup();
                        which
                    }
                    _ => (0..count as u32).collect(),
                };
                Some((
                    *id,
                    self.graph.path(*id).to_path_buf(),
                    module.facts.clone(),
                    which,
                ))
            })
            .collect();
        let questions: Vec<(&Path, crate::extract::ImportKind, &str)> = jobs
            .iter()
            .flat_map(|(_, path, facts, which)| {
                which.iter().filter_map(|i| {
                    let site = facts.imports.get(*i as usize)?;
                    Some((path.as_path(), site.kind, site.specifier.as_str()))
                })
            })
            .collect();
        let mut answers = self.resolver.resolve_many(&questions).into_iter();
        let results: Vec<(FileId, Vec<(u32, Resolved)>)> = jobs
            .iter()
            .map(|(id, _, facts, which)| {
                let resolved = which
                    .iter()
                    .filter(|i| (**i as usize) < facts.imports.len())
                    .filter_map(|i| Some((*i, answers.next()?)))
                    .collect();
                (*id, resolved)
            })
            .collect();
        let mut next = Vec::new();
        let mut pending = FxHashSet::default();
        for (id, resolved) in results {
            let Some(count) = self.graph.module(id).map(|m| m.facts.imports.len()) else {
                continue;
            };
            let mut edges = match self.graph.module(id) {
                Some(m) if m.edges.len() == count => m.edges.clone(),
                // Rebuilt whole: every site is in `resolved`.
                _ => (0..count as u32)
                    .map(|site| Edge {
                        site,
                        target: Target::Unknown,
                    })
                    .collect(),
            };
            for (site, r) in &resolved {
                let target = self.inserter().target_for(r, &mut next, &mut pending);
                if let Some(edge) = edges.get_mut(*site as usize) {
                    edge.target = target;
                }
            }
            let Some(module) = self.graph.module(id) else {
                continue;
            };
            if module.edges != edges {
                let module = Module {
                    edges,
                    ..module.clone()
                };
                self.put_module(id, module);
                self.structure_changed = true;
                changed.insert(id);
            }
        }
        self.load(next, None, changed);
    }

    /// Whether a change of `path` re-resolves every specifier (`package.json`, `tsconfig.json`,
    /// `jsconfig.json`).
    pub fn resets_resolution(path: &Path) -> bool {
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|name| RESOLUTION_MANIFESTS.contains(&name))
    }

    /// Whether applying `change` reloads the whole workspace (configuration or `.gitignore`).
    pub fn rebuilds_on(change: &FileChange) -> bool {
        let (FileChange::Changed(path) | FileChange::Created(path) | FileChange::Deleted(path)) =
            change;
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|name| name == crate::config::CONFIG_FILE || name == ".gitignore")
    }

    /// [`Workspace::apply`] for a change that may reload everything: the reload counts into
    /// `progress` and stops when it is cancelled.
    pub fn apply_with_progress(
        &mut self,
        change: FileChange,
        progress: Arc<LoadProgress>,
    ) -> ApplyResult {
        self.progress = progress;
        let result = self.apply(change);
        self.progress = Arc::default();
        result
    }

    /// Follows one change. Re-reads only the changed file and re-resolves only the specifiers
    /// that can resolve differently afterwards.
    pub fn apply(&mut self, change: FileChange) -> ApplyResult {
        if self.index.is_none() {
            let mut index = SpecifierIndex::default();
            for (id, module) in self.graph.modules() {
                index.update(id, self.graph.path(id), None, Some(&module.facts));
            }
            self.index = Some(index);
        }
        self.structure_changed = false;
        self.previous.clear();
        self.applying = true;
        let mut result = self.apply_inner(change);
        self.applying = false;
        result.structure |= self.structure_changed || result.rebuilt;
        if !result.rebuilt {
            result.previous = std::mem::take(&mut self.previous);
        }
        result
    }

    /// See [`Inserter::put_module`].
    fn put_module(&mut self, id: FileId, module: Module) {
        self.inserter().put_module(id, module);
    }

    /// The only way a module is forgotten: keeps the first previous value per change.
    fn take_module(&mut self, id: FileId) -> Option<Module> {
        let old = self.graph.remove_module(id);
        if self.applying {
            self.previous.entry(id).or_insert_with(|| old.clone());
        }
        old
    }

    fn apply_inner(&mut self, change: FileChange) -> ApplyResult {
        let mut result = ApplyResult::default();
        let path = match &change {
            FileChange::Changed(p) | FileChange::Created(p) | FileChange::Deleted(p) => p.clone(),
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if Self::rebuilds_on(&change) {
            return self.rebuild();
        }
        if RESOLUTION_MANIFESTS.contains(&name) {
            self.resolver.clear_cache();
            self.caches.clear_package_types();
            self.packages.clear();
            let all: FxHashSet<FileId> = self.graph.modules().map(|(id, _)| id).collect();
            // Formats may change with `"type"`.
            for id in &all {
                let Some(module) = self.graph.module(*id) else {
                    continue;
                };
                let (format, certainty) =
                    self.caches.format_of(self.graph.path(*id), &module.facts);
                if format != module.format || certainty != module.certainty {
                    let module = Module {
                        format,
                        certainty,
                        ..module.clone()
                    };
                    self.put_module(*id, module);
                    self.structure_changed = true;
                    result.changed.insert(*id);
                }
            }
            self.reresolve(&all, &mut result.changed);
            return result;
        }
        // A folder replaced by a file, or a file by a folder (a watcher may report only the
        // creation, or a change): what was at the path is gone first.
        if let FileChange::Changed(p) | FileChange::Created(p) = &change
            && self.kind_replaced(p)
        {
            let mut result = self.apply_inner(FileChange::Deleted(p.clone()));
            let more = self.apply_inner(FileChange::Created(p.clone()));
            result.changed.extend(more.changed);
            return result;
        }
        match change {
            // Gone from disk and not open in an editor: the same as a deletion.
            FileChange::Changed(path)
                if !path.exists()
                    && !self
                        .overlays
                        .contains_key(path.as_os_str().as_encoded_bytes()) =>
            {
                return self.apply_inner(FileChange::Deleted(path));
            }
            FileChange::Changed(path) => {
                let Some(id) = self.graph.id(&path).filter(|id| self.graph.is_loaded(*id)) else {
                    // Not a module we know: it may be a new workspace file.
                    if path.is_file() && self.filter.is_workspace_file(&path) {
                        return self.apply_inner(FileChange::Created(path));
                    }
                    return result;
                };
                let Some(loaded) =
                    loader::load_one(&path, &self.resolver, &self.caches, &self.overlays)
                else {
                    return self.apply_inner(FileChange::Deleted(path));
                };
                let unchanged = self
                    .graph
                    .module(id)
                    .is_some_and(|m| *m.facts == loaded.facts);
                if !unchanged {
                    self.caches.notes.remove(&path);
                    let old_facts = self.graph.module(id).map(|m| m.facts.clone());
                    let facts_before = old_facts.as_deref();
                    if let Some(index) = &mut self.index {
                        index.update(id, &path, facts_before, None);
                    }
                    self.insert_batch(vec![loaded], &mut result.changed);
                }
            }
            FileChange::Created(path) => {
                if path.is_dir() {
                    let mut files = Vec::new();
                    collect_files(&path, &mut files);
                    for file in files {
                        let more = self.apply_inner(FileChange::Created(file));
                        result.changed.extend(more.changed);
                    }
                    return result;
                }
                self.layout_changed(&path);
                if self.filter.is_workspace_file(&path)
                    && let Some(loaded) =
                        loader::load_one(&path, &self.resolver, &self.caches, &self.overlays)
                {
                    self.insert_batch(vec![loaded], &mut result.changed);
                }
                let mut affected = AffectedSites::default();
                self.affected_by_layout(&path, &mut affected);
                self.reresolve_sites(&affected, &mut result.changed);
            }
            FileChange::Deleted(path) => {
                let under = self.modules_at_or_under(&path);
                self.layout_changed(&path);
                let mut affected = AffectedSites::default();
                let mut in_node_modules = false;
                for id in &under {
                    let p = self.graph.path(*id).to_path_buf();
                    // Only the sites that resolved to a deleted file resolve differently now:
                    // resolution takes the first candidate that exists, and one that named
                    // the file without resolving to it had found another one first.
                    self.sites_resolving_to(*id, &mut affected);
                    in_node_modules |= under_node_modules(&p);
                    self.structure_changed = true;
                    if let (Some(old), Some(index)) = (self.take_module(*id), &mut self.index) {
                        index.update(*id, &p, Some(&old.facts), None);
                    }
                    self.caches.notes.remove(&p);
                    result.changed.insert(*id);
                }
                if in_node_modules {
                    self.unresolved_package_sites(&mut affected);
                }
                // A folder: specifiers may name it (a directory import) without naming a file.
                if self.graph.id(&path).is_none_or(|id| !under.contains(&id)) {
                    self.affected_by_layout(&path, &mut affected);
                }
                for id in &under {
                    affected.remove(id);
                }
                self.reresolve_sites(&affected, &mut result.changed);
            }
        }
        result
    }

    /// The loaded module at `path`, or the loaded modules under the folder `path`.
    fn modules_at_or_under(&self, path: &Path) -> Vec<FileId> {
        if let Some(id) = self.graph.id(path).filter(|id| self.graph.is_loaded(*id)) {
            return vec![id];
        }
        self.modules_under(path).collect()
    }

    /// The loaded modules under the folder `path`.
    fn modules_under(&self, path: &Path) -> impl Iterator<Item = FileId> {
        // Bytes, not `Path::starts_with`: this looks at every module.
        let mut prefix = path.as_os_str().as_encoded_bytes().to_vec();
        prefix.push(std::path::MAIN_SEPARATOR as u8);
        self.graph.modules().map(|(id, _)| id).filter(move |id| {
            self.graph
                .path(*id)
                .as_os_str()
                .as_encoded_bytes()
                .starts_with(&prefix)
        })
    }

    /// Whether `path` was a module file and is a folder now, or is a new file where the graph
    /// has modules under `path/` (it was a folder).
    fn kind_replaced(&self, path: &Path) -> bool {
        if self
            .graph
            .id(path)
            .is_some_and(|id| self.graph.is_loaded(id))
        {
            return path.is_dir();
        }
        if !path.is_file() {
            return false;
        }
        self.modules_under(path).next().is_some()
    }

    /// A file appeared or disappeared: cached file-system facts are stale.
    fn layout_changed(&mut self, path: &Path) {
        self.resolver.forget_layout(path);
    }

    /// Adds the sites that could resolve to `path` or to a folder on its way, and the sites
    /// that resolve to it now.
    fn affected_by_layout(&self, path: &Path, affected: &mut AffectedSites) {
        let matcher = index::SiteMatcher::new(path);
        let candidates = self
            .index
            .as_ref()
            .map(|index| index.candidates(path))
            .unwrap_or_default();
        // Hundreds of importers in one folder often write the same specifier: ask once.
        let mut answers: FxHashMap<(&[u8], &str), bool> = FxHashMap::default();
        for (id, site) in candidates {
            let Some(import) = self
                .graph
                .module(id)
                .and_then(|m| m.facts.imports.get(site as usize))
            else {
                continue;
            };
            let base = self.graph.path(id).parent().unwrap_or(Path::new("/"));
            let named = *answers
                .entry((base.as_os_str().as_encoded_bytes(), &import.specifier))
                .or_insert_with(|| matcher.matches(base, &import.specifier));
            if named {
                add_site(affected, id, site);
            }
        }
        if let Some(target) = self.graph.id(path) {
            self.sites_resolving_to(target, affected);
        }
        // A change under `node_modules` may create or remove `node_modules` itself, which
        // decides whether an unresolved package is certainly missing.
        if under_node_modules(path) {
            self.unresolved_package_sites(affected);
        }
    }

    /// Adds the sites that resolve to `target`.
    fn sites_resolving_to(&self, target: FileId, affected: &mut AffectedSites) {
        for &id in self.graph.importers(target) {
            let Some(module) = self.graph.module(id) else {
                continue;
            };
            for edge in &module.edges {
                let file = match &edge.target {
                    Target::Module(file) | Target::CaseMismatch { file, .. } => *file,
                    _ => continue,
                };
                if file == target {
                    add_site(affected, id, edge.site);
                }
            }
        }
    }

    /// Adds the sites of packages that did not resolve.
    fn unresolved_package_sites(&self, affected: &mut AffectedSites) {
        for (id, module) in self.graph.modules() {
            for edge in &module.edges {
                if matches!(edge.target, Target::NotFound | Target::Unknown)
                    && !crate::resolve::is_path_specifier(&module.site(edge).specifier)
                {
                    add_site(affected, id, edge.site);
                }
            }
        }
    }

    /// Reloads configuration and everything else, keeping editor overlays.
    fn rebuild(&mut self) -> ApplyResult {
        let roots = self.filter.roots().to_vec();
        let config = roots
            .first()
            .map(|r| Config::load(r))
            .transpose()
            .ok()
            .flatten()
            .unwrap_or_default();
        let overlays = std::mem::take(&mut self.overlays);
        let old: Vec<PathBuf> = self
            .graph
            .modules()
            .map(|(id, _)| self.graph.path(id).to_path_buf())
            .collect();
        let mut fresh = Self::with_config_and_overlays(
            roots,
            config,
            overlays,
            self.options,
            self.progress.clone(),
        );
        let mut changed: FxHashSet<FileId> = fresh.graph.modules().map(|(id, _)| id).collect();
        for path in &old {
            changed.insert(fresh.graph.intern(path));
        }
        *self = fresh;
        ApplyResult {
            changed,
            rebuilt: true,
            structure: true,
            previous: FxHashMap::default(),
        }
    }

    fn with_config_and_overlays(
        roots: Vec<PathBuf>,
        config: Config,
        overlays: Overlays,
        options: WorkspaceOptions,
        progress: Arc<LoadProgress>,
    ) -> Self {
        let probe = roots.first().cloned().unwrap_or_else(|| PathBuf::from("/"));
        let mut ws = Self {
            filter: WorkspaceFilter::new(roots, &config.ignore),
            resolver: ModuleResolver::new(&config.conditions, &probe),
            config,
            caches: LoaderCaches::new(options.declaration_files),
            overlays,
            graph: ModuleGraph::default(),
            index: options.specifier_index.then(SpecifierIndex::default),
            packages: Default::default(),
            stats: LoadStats::default(),
            worker_times: Default::default(),
            options,
            structure_changed: true,
            previous: FxHashMap::default(),
            applying: false,
            progress,
            file_limit: None,
        };
        let started = std::time::Instant::now();
        let mut files: Vec<PathBuf> = ws.filter.walk();
        let limit = ws.config.max_files.unwrap_or(DEFAULT_MAX_FILES);
        if files.len() > limit {
            // The same files every time: the walk lists them in path order.
            ws.file_limit = Some((files.len(), limit));
            files.truncate(limit);
        }
        ws.stats.walk = started.elapsed();
        let mut changed = FxHashSet::default();
        ws.load(files, Some(Origin::Workspace), &mut changed);
        ws.progress = Arc::default();
        ws
    }
}

/// One load of files and of everything they reach (see [`Workspace::load`]), shared by its
/// workers.
struct Loading<'w, 'c> {
    graph_side: std::sync::Mutex<GraphSide<'w, 'c>>,
    /// Modules loaded and not yet in the graph, with their origin.
    arrived: std::sync::Mutex<Vec<(Vec<LoadedModule>, Option<Origin>)>>,
    /// Set once the first files are interned: modules may go in from then on.
    ready: std::sync::atomic::AtomicBool,
    cx: loader::LoadContext<'w>,
}

/// What only one worker at a time touches.
struct GraphSide<'w, 'c> {
    inserter: Inserter<'w>,
    /// Files being loaded: edges to them start no run.
    pending: FxHashSet<FileId>,
    changed: &'c mut FxHashSet<FileId>,
    files: usize,
    time: std::time::Duration,
}

impl<'w, 'c> Loading<'w, 'c> {
    /// Loads one run of files, then puts what has arrived in the graph unless another worker
    /// is doing so.
    fn run<'s>(&'s self, scope: &rayon::Scope<'s>, run: &[PathBuf], origin: Option<Origin>) {
        let loaded: Vec<LoadedModule> = run
            .iter()
            .filter_map(|path| loader::load_task(path, self.cx))
            .collect();
        lock(&self.arrived).push((loaded, origin));
        if self.ready.load(std::sync::atomic::Ordering::Acquire) {
            self.insert_arrived(scope);
        }
    }

    /// Puts arrived modules in the graph and starts runs for the files their edges reach,
    /// until nothing is left, unless another worker holds the graph: it will see what arrived.
    fn insert_arrived<'s>(&'s self, scope: &rayon::Scope<'s>) {
        loop {
            // Whoever holds the graph checks `arrived` again after letting go.
            let Ok(mut side) = self.graph_side.try_lock() else {
                return;
            };
            let batch = std::mem::take(&mut *lock(&self.arrived));
            if batch.is_empty() {
                drop(side);
                if lock(&self.arrived).is_empty() {
                    return;
                }
                continue;
            }
            let mark = std::time::Instant::now();
            let side = &mut *side;
            let mut next = Vec::new();
            for (modules, origin) in batch {
                for loaded in modules {
                    side.inserter.insert(
                        loaded,
                        origin,
                        &mut next,
                        &mut side.pending,
                        side.changed,
                    );
                }
            }
            side.files += next.len();
            self.cx.progress.add_total(next.len());
            for run in next.chunks(loader::RUN_FILES) {
                let run = run.to_vec();
                scope.spawn(move |scope| self.run(scope, &run, None));
            }
            side.time += mark.elapsed();
        }
    }
}

/// Locks a mutex that a panicking worker may have poisoned; the panic is raised where the
/// load's scope ends.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What putting a module in the graph changes, borrowed apart from the resolver so that
/// modules go into the graph while others resolve.
struct Inserter<'w> {
    graph: &'w mut ModuleGraph,
    index: Option<&'w mut SpecifierIndex>,
    filter: &'w WorkspaceFilter,
    structure_changed: &'w mut bool,
    previous: &'w mut FxHashMap<FileId, Option<Module>>,
    applying: bool,
}

impl Inserter<'_> {
    /// Puts one resolved module in the graph; queues in `next` the files its edges reach that
    /// are neither loaded nor pending.
    fn insert(
        &mut self,
        loaded: LoadedModule,
        origin: Option<Origin>,
        next: &mut Vec<PathBuf>,
        pending: &mut FxHashSet<FileId>,
        changed: &mut FxHashSet<FileId>,
    ) {
        let id = self.graph.intern(&loaded.path);
        let origin = origin.unwrap_or_else(|| {
            if self.filter.is_workspace_file(&loaded.path) {
                Origin::Workspace
            } else {
                Origin::Dependency
            }
        });
        let edges = self.edges_for(&loaded.resolved, next, pending);
        if let Some(index) = &mut self.index {
            index.update(id, &loaded.path, None, Some(&loaded.facts));
        }
        let module = Module {
            origin,
            format: loaded.format,
            certainty: loaded.certainty,
            facts: Arc::new(loaded.facts),
            edges,
        };
        let same_structure = self.graph.module(id).is_some_and(|old| {
            old.format == module.format
                && old.origin == module.origin
                && structure(old) == structure(&module)
        });
        *self.structure_changed |= !same_structure;
        self.put_module(id, module);
        changed.insert(id);
    }

    /// The only way a loaded module is replaced: keeps the first previous value per change
    /// (not while the workspace is first loaded: there is nothing before).
    fn put_module(&mut self, id: FileId, module: Module) {
        let old = self.graph.set_module(id, module);
        if self.applying {
            self.previous.entry(id).or_insert(old);
        }
    }

    /// Interns resolved targets; queues files that are neither loaded nor pending.
    fn edges_for(
        &mut self,
        resolved: &[Resolved],
        next: &mut Vec<PathBuf>,
        pending: &mut FxHashSet<FileId>,
    ) -> Vec<Edge> {
        resolved
            .iter()
            .enumerate()
            .map(|(site, r)| Edge {
                site: site as u32,
                target: self.target_for(r, next, pending),
            })
            .collect()
    }

    /// The edge target of one resolution (see [`Inserter::edges_for`]).
    fn target_for(
        &mut self,
        resolved: &Resolved,
        next: &mut Vec<PathBuf>,
        pending: &mut FxHashSet<FileId>,
    ) -> Target {
        let mut target_id = |graph: &mut ModuleGraph, path: &Path, load: bool| {
            let id = graph.intern(path);
            if load && !graph.is_loaded(id) && pending.insert(id) {
                next.push(path.to_path_buf());
            }
            id
        };
        match resolved {
            Resolved::File(path) => Target::Module(target_id(self.graph, path, true)),
            Resolved::Builtin => Target::Builtin,
            Resolved::NotFound => Target::NotFound,
            Resolved::Unknown => Target::Unknown,
            Resolved::CaseMismatch {
                corrected,
                path,
                resolves_anyway,
            } => Target::CaseMismatch {
                corrected: corrected.clone(),
                file: target_id(self.graph, path, *resolves_anyway),
                resolves_anyway: *resolves_anyway,
            },
        }
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            collect_files(&entry.path(), out);
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
}

fn canonical_roots(roots: &[PathBuf]) -> Result<Vec<PathBuf>, WorkspaceError> {
    let mut out = Vec::new();
    for root in roots {
        let canonical = std::fs::canonicalize(root).map_err(|source| WorkspaceError::Root {
            path: root.display().to_string(),
            source,
        })?;
        if !canonical.is_dir() {
            return Err(WorkspaceError::NotADirectory(root.display().to_string()));
        }
        std::fs::read_dir(&canonical).map_err(|source| WorkspaceError::Root {
            path: root.display().to_string(),
            source,
        })?;
        out.push(canonical);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn under_node_modules(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "node_modules")
}
