//! What rules see: the graph, display names, and shared derived facts computed once per run.

use std::cell::{OnceCell, RefCell};
use std::path::Path;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::diagnostic::{Diagnostic, Location, Related, Severity};
use crate::extract::{ImportSite, Span};
use crate::graph::{Edge, FileId, Module, ModuleGraph};
use crate::resolve::{PackageInfo, PackageRoot};
use crate::workspace::Workspace;

pub struct RuleContext<'a> {
    pub workspace: &'a Workspace,
    pub graph: &'a ModuleGraph,
    runtime_reachable: OnceCell<FxHashSet<FileId>>,
    packages: RefCell<FxHashMap<FileId, Option<(PackageRoot, PackageInfo)>>>,
    scratch: RefCell<FxHashMap<std::any::TypeId, Box<dyn std::any::Any>>>,
    names: OnceCell<FxHashMap<String, Vec<FileId>>>,
}

impl<'a> RuleContext<'a> {
    pub fn new(workspace: &'a Workspace) -> Self {
        Self {
            workspace,
            graph: workspace.graph(),
            runtime_reachable: OnceCell::new(),
            names: OnceCell::new(),
            packages: RefCell::default(),
            scratch: RefCell::default(),
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

    pub fn module(&self, id: FileId) -> Option<&'a Module> {
        self.graph.module(id)
    }

    pub fn package_of(&self, id: FileId) -> Option<(PackageRoot, PackageInfo)> {
        if let Some(known) = self.packages.borrow().get(&id) {
            return known.clone();
        }
        let found = self.workspace.package_of(id);
        self.packages.borrow_mut().insert(id, found.clone());
        found
    }

    /// Modules Node would evaluate starting from the workspace modules (runtime edges only).
    pub fn runtime_reachable(&self) -> &FxHashSet<FileId> {
        self.runtime_reachable.get_or_init(|| {
            let starts: Vec<FileId> = self.graph.workspace_modules().map(|(id, _)| id).collect();
            self.graph
                .dependency_closure(&starts, |_, site| site.is_runtime())
        })
    }

    /// Workspace modules by file name (for "the file moved" fixes).
    pub fn workspace_files_named(&self, name: &str) -> &[FileId] {
        let names = self.names.get_or_init(|| {
            let mut names: FxHashMap<String, Vec<FileId>> = FxHashMap::default();
            for (id, _) in self.graph.workspace_modules() {
                if let Some(n) = self.graph.path(id).file_name().and_then(|n| n.to_str()) {
                    names.entry(n.to_string()).or_default().push(id);
                }
            }
            names
        });
        names.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// The modules `delete require.cache[…]` statements of `id` remove, paired with the delete.
    /// `None` when any key is unknowable or the whole cache is cleared: then nothing is certain.
    pub fn cache_deletions(
        &self,
        id: FileId,
    ) -> Option<Vec<(&'a crate::extract::CacheDelete, Option<FileId>)>> {
        let module = self.graph.module(id)?;
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
                .map(|delete| {
                    let target = deleted_module(module, delete);
                    (delete, target)
                })
                .collect(),
        )
    }

    /// `starts` and every loaded module that (transitively) evaluates one of them.
    pub fn runtime_ancestors(&self, starts: &[FileId]) -> FxHashSet<FileId> {
        let mut seen: FxHashSet<FileId> = starts.iter().copied().collect();
        let mut stack: Vec<FileId> = starts.to_vec();
        while let Some(id) = stack.pop() {
            for &importer in self.graph.importers(id) {
                if !seen.contains(&importer) && self.evaluates(importer, id) {
                    seen.insert(importer);
                    stack.push(importer);
                }
            }
        }
        seen
    }

    fn evaluates(&self, importer: FileId, target: FileId) -> bool {
        self.graph.module(importer).is_some_and(|m| {
            m.runtime_edges()
                .any(|(e, _)| e.target.module() == Some(target))
        })
    }

    /// Every module that a program loading any of `files` also loads: the runtime dependencies
    /// of everything that (transitively) evaluates one of them. Computed once and then asked
    /// per site, instead of one [`Self::loaded_together`] walk per pair.
    pub fn loaded_with(&self, files: &[FileId]) -> FxHashSet<FileId> {
        let ancestors: Vec<FileId> = self.runtime_ancestors(files).into_iter().collect();
        self.graph
            .dependency_closure(&ancestors, |_, site| site.is_runtime())
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
            for &importer in self.graph.importers(id) {
                if !seen.contains(&importer) && self.evaluates(importer, id) {
                    seen.insert(importer);
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
        self.graph
            .module(id)
            .into_iter()
            .flat_map(|m| m.runtime_edges())
    }

    /// For every module reachable from `starts` along runtime edges, the edge (importer, site
    /// span) that first reached it in breadth-first order. Gives shortest import chains.
    pub fn first_reached_by(&self, starts: &[FileId]) -> FxHashMap<FileId, (FileId, Span)> {
        let mut parent: FxHashMap<FileId, (FileId, Span)> = FxHashMap::default();
        let mut seen: FxHashSet<FileId> = starts.iter().copied().collect();
        let mut queue: std::collections::VecDeque<FileId> = starts.iter().copied().collect();
        while let Some(id) = queue.pop_front() {
            for (edge, site) in self.runtime_edges(id) {
                let Some(target) = edge.target.module() else {
                    continue;
                };
                if self.graph.is_loaded(target) && seen.insert(target) {
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
