//! The module graph: interned [`FileId`]s, one [`Edge`] per import site, reverse edges, and
//! queries. Pure data: the workspace layer reads files and resolves specifiers, then feeds it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::extract::{ImportSite, ModuleFacts};

mod query;

pub use query::strongly_connected_components;

/// An interned absolute path. Stable for the life of the graph, also after the file is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

impl FileId {
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Where a module lives, which decides whether its problems are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Under a workspace folder, outside `node_modules` and ignored paths.
    Workspace,
    /// Reached from the workspace (usually in `node_modules`): followed, never reported.
    Dependency,
}

/// How Node evaluates a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModuleFormat {
    Esm,
    Cjs,
    Json,
    /// `.node` add-ons, `.wasm`, and anything else that is loaded but not parsed.
    Other,
    /// `.d.ts` and friends: never evaluated.
    Declaration,
}

/// Whether the format comes from a rule (extension, `package.json` `"type"`) or from syntax
/// detection of an ambiguous `.js`/`.ts` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FormatCertainty {
    Certain,
    Detected,
}

/// What an import site resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Module(FileId),
    Builtin,
    NotFound,
    CaseMismatch {
        corrected: String,
        file: FileId,
        resolves_anyway: bool,
    },
    /// Dynamic, aliased or otherwise unknowable: never a diagnostic.
    Unknown,
}

impl Target {
    /// The module the site loads at run time, if it certainly loads one.
    pub fn module(&self) -> Option<FileId> {
        match self {
            Target::Module(id) => Some(*id),
            Target::CaseMismatch {
                file,
                resolves_anyway: true,
                ..
            } => Some(*file),
            _ => None,
        }
    }
}

/// One resolved import site; `site` indexes [`ModuleFacts::imports`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Edge {
    pub site: u32,
    pub target: Target,
}

/// A loaded module.
#[derive(Debug, Clone)]
pub struct Module {
    pub origin: Origin,
    pub format: ModuleFormat,
    pub certainty: FormatCertainty,
    pub facts: Arc<ModuleFacts>,
    pub edges: Vec<Edge>,
}

impl Module {
    pub fn site(&self, edge: &Edge) -> &ImportSite {
        &self.facts.imports[edge.site as usize]
    }

    /// Edges Node follows when it evaluates this module (no type-only, no `require.resolve`,
    /// nothing from declaration files, which never run).
    pub fn runtime_edges(&self) -> impl Iterator<Item = (&Edge, &ImportSite)> {
        let runs = self.is_evaluated();
        self.edges
            .iter()
            .map(|e| (e, self.site(e)))
            .filter(move |(_, site)| runs && site.is_runtime())
    }

    /// Whether Node ever evaluates this module's code.
    pub fn is_evaluated(&self) -> bool {
        !matches!(self.format, ModuleFormat::Declaration)
    }

    pub fn is_workspace(&self) -> bool {
        self.origin == Origin::Workspace
    }
}

#[derive(Default)]
pub struct ModuleGraph {
    paths: Vec<PathBuf>,
    /// Keyed by the path's bytes: hashing a `Path` walks its components, which is slow.
    ids: FxHashMap<Box<[u8]>, FileId>,
    modules: Vec<Option<Module>>,
    /// For each file, the modules that have at least one edge to it.
    importers: Vec<Vec<FileId>>,
    /// For each file, the modules that evaluate it: a runtime edge that certainly loads it
    /// ([`Target::module`]). Ancestor walks would otherwise search each importer's edges.
    runtime_importers: Vec<Vec<FileId>>,
    /// Workspace modules by file name, kept up to date as modules come and go.
    names: FxHashMap<Box<[u8]>, Vec<FileId>>,
}

impl ModuleGraph {
    /// Makes room for `additional` more files, so that interning a whole workspace does not
    /// grow the tables step by step.
    pub fn reserve(&mut self, additional: usize) {
        self.paths.reserve(additional);
        self.ids.reserve(additional);
        self.modules.reserve(additional);
        self.importers.reserve(additional);
        self.runtime_importers.reserve(additional);
    }

    pub fn intern(&mut self, path: &Path) -> FileId {
        let key = path.as_os_str().as_encoded_bytes();
        if let Some(id) = self.ids.get(key) {
            return *id;
        }
        let id = FileId(self.paths.len() as u32);
        self.paths.push(path.to_path_buf());
        self.ids.insert(key.into(), id);
        self.modules.push(None);
        self.importers.push(Vec::new());
        self.runtime_importers.push(Vec::new());
        id
    }

    pub fn id(&self, path: &Path) -> Option<FileId> {
        self.ids.get(path.as_os_str().as_encoded_bytes()).copied()
    }

    /// Orders files by path bytes (cheaper than `Path`'s component-wise order, equally stable).
    pub fn cmp_paths(&self, a: FileId, b: FileId) -> std::cmp::Ordering {
        self.path(a).as_os_str().cmp(self.path(b).as_os_str())
    }

    pub fn path(&self, id: FileId) -> &Path {
        &self.paths[id.index()]
    }

    pub fn module(&self, id: FileId) -> Option<&Module> {
        self.modules.get(id.index()).and_then(Option::as_ref)
    }

    pub fn is_loaded(&self, id: FileId) -> bool {
        self.module(id).is_some()
    }

    pub fn modules(&self) -> impl Iterator<Item = (FileId, &Module)> {
        self.modules
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.as_ref().map(|m| (FileId(i as u32), m)))
    }

    pub fn workspace_modules(&self) -> impl Iterator<Item = (FileId, &Module)> {
        self.modules().filter(|(_, m)| m.is_workspace())
    }

    /// Modules with an edge to `id` (loaded or not), in no particular order.
    pub fn importers(&self, id: FileId) -> &[FileId] {
        self.importers
            .get(id.index())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Modules that evaluate `id` (see [`Module::runtime_edges`] and [`Target::module`]), in no
    /// particular order.
    pub fn runtime_importers(&self, id: FileId) -> &[FileId] {
        self.runtime_importers
            .get(id.index())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Puts `module` in place of whatever `id` held and patches the reverse edges.
    /// Returns what `id` held before.
    pub fn set_module(&mut self, id: FileId, module: Module) -> Option<Module> {
        let old_files = self.module(id).map(edge_files).unwrap_or_default();
        patch_reverse(&mut self.importers, id, &old_files, &edge_files(&module));
        let old_runtime = self.module(id).map(runtime_targets).unwrap_or_default();
        patch_reverse(
            &mut self.runtime_importers,
            id,
            &old_runtime,
            &runtime_targets(&module),
        );
        let was_workspace = self.module(id).is_some_and(Module::is_workspace);
        let is_workspace = module.is_workspace();
        let old = self.modules[id.index()].replace(module);
        self.track_name(id, was_workspace, is_workspace);
        old
    }

    /// Keeps `names` in step when `id` becomes or stops being a workspace module.
    fn track_name(&mut self, id: FileId, was_workspace: bool, is_workspace: bool) {
        if was_workspace == is_workspace {
            return;
        }
        let Some(name) = self.paths[id.index()].file_name() else {
            return;
        };
        let key = name.as_encoded_bytes();
        if is_workspace {
            // `entry` would allocate the key for every module, though most names are known.
            match self.names.get_mut(key) {
                Some(ids) => ids.push(id),
                None => {
                    self.names.insert(key.into(), vec![id]);
                }
            }
        } else if let Some(ids) = self.names.get_mut(key) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.names.remove(key);
            }
        }
    }

    /// The workspace modules whose file name is `name`, in no particular order.
    pub fn workspace_files_named(&self, name: &str) -> &[FileId] {
        self.names
            .get(name.as_bytes())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Forgets the module at `id`. Modules that import it keep their edges: the caller
    /// re-resolves them.
    pub fn remove_module(&mut self, id: FileId) -> Option<Module> {
        let old = self.modules.get_mut(id.index())?.take()?;
        for gone in edge_files(&old) {
            self.importers[gone.index()].retain(|i| *i != id);
        }
        for gone in runtime_targets(&old) {
            self.runtime_importers[gone.index()].retain(|i| *i != id);
        }
        self.track_name(id, old.is_workspace(), false);
        Some(old)
    }

    /// Loaded modules reachable from the workspace modules along runtime and type edges.
    pub fn reachable_from_workspace(&self) -> FxHashSet<FileId> {
        let starts: Vec<FileId> = self.workspace_modules().map(|(id, _)| id).collect();
        self.dependency_closure(&starts, |_, _| true)
    }

    /// `starts` plus every loaded module they reach through edges accepted by `follow`.
    pub fn dependency_closure(
        &self,
        starts: &[FileId],
        follow: impl FnMut(&Module, &ImportSite) -> bool,
    ) -> FxHashSet<FileId> {
        self.dependency_closure_visiting(starts, |_| {}, follow)
    }

    /// [`Self::dependency_closure`] that tells `visit` each module whose edges it reads.
    pub fn dependency_closure_visiting(
        &self,
        starts: &[FileId],
        mut visit: impl FnMut(FileId),
        mut follow: impl FnMut(&Module, &ImportSite) -> bool,
    ) -> FxHashSet<FileId> {
        let mut seen: FxHashSet<FileId> = starts.iter().copied().collect();
        let mut stack: Vec<FileId> = starts.to_vec();
        while let Some(id) = stack.pop() {
            visit(id);
            let Some(module) = self.module(id) else {
                continue;
            };
            for edge in &module.edges {
                let Some(target) = edge.target.module() else {
                    continue;
                };
                if self.is_loaded(target)
                    && follow(module, module.site(edge))
                    && seen.insert(target)
                {
                    stack.push(target);
                }
            }
        }
        seen
    }

    /// `starts` plus every loaded module that (transitively) imports one of them.
    pub fn importers_closure(&self, starts: &[FileId]) -> FxHashSet<FileId> {
        let mut seen: FxHashSet<FileId> = starts.iter().copied().collect();
        let mut stack: Vec<FileId> = starts.to_vec();
        while let Some(id) = stack.pop() {
            for &importer in self.importers(id) {
                if self.is_loaded(importer) && seen.insert(importer) {
                    stack.push(importer);
                }
            }
        }
        seen
    }

    /// Number of interned paths (an upper bound for [`FileId`] indexes).
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

/// Moves `id` between reverse-edge lists: out of those of `old` targets, into those of `new`
/// ones (both sorted, without repeats).
fn patch_reverse(lists: &mut [Vec<FileId>], id: FileId, old: &[FileId], new: &[FileId]) {
    sorted_difference(old, new, |gone, file| {
        if gone {
            lists[file.index()].retain(|x| *x != id);
        } else {
            lists[file.index()].push(id);
        }
    });
}

/// Calls `each(true, f)` for the files only in `old` and `each(false, f)` for those only in
/// `new`; both sorted, without repeats, so one merge finds them.
fn sorted_difference(old: &[FileId], new: &[FileId], mut each: impl FnMut(bool, FileId)) {
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) if o == n => {
                i += 1;
                j += 1;
            }
            (Some(o), n) if n.is_none_or(|n| o < n) => {
                each(true, *o);
                i += 1;
            }
            (_, Some(n)) => {
                each(false, *n);
                j += 1;
            }
            _ => break,
        }
    }
}

/// The modules whose importer lists ([`ModuleGraph::importers`],
/// [`ModuleGraph::runtime_importers`]) differ because one module went from `before` to `now`.
pub fn importer_lists_touched(before: Option<&Module>, now: Option<&Module>) -> Vec<FileId> {
    let mut touched = Vec::new();
    for list in [edge_files, runtime_targets] {
        let old = before.map(list).unwrap_or_default();
        let new = now.map(list).unwrap_or_default();
        sorted_difference(&old, &new, |_, file| touched.push(file));
    }
    touched
}

/// The files a module evaluates, sorted, without repeats.
fn runtime_targets(module: &Module) -> Vec<FileId> {
    let mut files: Vec<FileId> = module
        .runtime_edges()
        .filter_map(|(e, _)| e.target.module())
        .collect();
    files.sort_unstable();
    files.dedup();
    files
}

/// The files a module has edges to, sorted and without repeats.
fn edge_files(module: &Module) -> Vec<FileId> {
    let mut files: Vec<FileId> = module
        .edges
        .iter()
        .filter_map(|e| match &e.target {
            Target::Module(id) => Some(*id),
            Target::CaseMismatch { file, .. } => Some(*file),
            _ => None,
        })
        .collect();
    files.sort_unstable();
    files.dedup();
    files
}
