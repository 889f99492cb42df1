//! Which files are workspace modules: walking the roots, and the same decision for a single
//! path (for files that appear later).

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use ignore::gitignore::Gitignore;
use ignore::{WalkBuilder, WalkState};

/// Extensions of files that are parsed as modules.
pub const SOURCE_EXTENSIONS: &[&str] = &["js", "mjs", "cjs", "jsx", "ts", "tsx", "mts", "cts"];

pub fn is_source_file(path: &Path) -> bool {
    crate::resolve::file_extension(path).is_some_and(|e| SOURCE_EXTENSIONS.contains(&e))
}

/// Decides whether a path is a workspace module: under a root, outside `node_modules` and hidden
/// folders, not matched by `.gitignore` files (from the root down) or the configured globs.
pub struct WorkspaceFilter {
    roots: Vec<PathBuf>,
    globs: GlobSet,
    gitignores: DashMap<PathBuf, Option<Arc<Gitignore>>>,
}

impl WorkspaceFilter {
    pub fn new(roots: Vec<PathBuf>, ignore_globs: &[String]) -> Self {
        let mut builder = GlobSetBuilder::new();
        for glob in ignore_globs {
            // Validated with the configuration; a glob that fails here is skipped.
            for pattern in [glob.clone(), format!("{}/**", glob.trim_end_matches('/'))] {
                if let Ok(g) = GlobBuilder::new(&pattern).literal_separator(false).build() {
                    builder.add(g);
                }
            }
        }
        let globs = builder.build().unwrap_or_else(|_| GlobSet::empty());
        Self {
            roots,
            globs,
            gitignores: DashMap::new(),
        }
    }

    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    fn root_of(&self, path: &Path) -> Option<&Path> {
        self.roots
            .iter()
            .filter(|r| path.starts_with(r))
            .max_by_key(|r| r.as_os_str().len())
            .map(PathBuf::as_path)
    }

    fn gitignore(&self, dir: &Path) -> Option<Arc<Gitignore>> {
        if let Some(g) = self.gitignores.get(dir) {
            return g.clone();
        }
        let file = dir.join(".gitignore");
        let g = file.is_file().then(|| Arc::new(Gitignore::new(&file).0));
        self.gitignores.insert(dir.to_path_buf(), g.clone());
        g
    }

    /// Forget cached `.gitignore` files (one changed).
    pub fn forget_gitignores(&self) {
        self.gitignores.clear();
    }

    fn excluded_dir_name(name: &str) -> bool {
        name == "node_modules" || name.starts_with('.')
    }

    /// Whether `path` (a file) is a workspace module path.
    pub fn is_workspace_file(&self, path: &Path) -> bool {
        if !is_source_file(path) {
            return false;
        }
        let Some(root) = self.root_of(path) else {
            return false;
        };
        let Ok(relative) = path.strip_prefix(root) else {
            return false;
        };
        for component in relative.components() {
            match component {
                Component::Normal(name) => {
                    if name.to_str().is_none_or(Self::excluded_dir_name) {
                        return false;
                    }
                }
                _ => return false,
            }
        }
        if self.globs.is_match(relative) {
            return false;
        }
        let mut dir = root.to_path_buf();
        let parts: Vec<Component> = relative.components().collect();
        for (i, part) in parts.iter().enumerate() {
            if let Some(g) = self.gitignore(&dir) {
                let rest: PathBuf = parts[i..].iter().collect();
                if g.matched_path_or_any_parents(dir.join(&rest), false)
                    .is_ignore()
                {
                    return false;
                }
            }
            dir.push(part);
        }
        true
    }

    /// All workspace module paths under the roots, sorted.
    pub fn walk(&self) -> Vec<PathBuf> {
        let found: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
        for root in &self.roots {
            let mut builder = WalkBuilder::new(root);
            builder
                .hidden(true)
                .git_ignore(true)
                .git_global(false)
                .git_exclude(false)
                .require_git(false)
                .parents(false)
                .ignore(false)
                .follow_links(false)
                .threads(4)
                .filter_entry(|entry| {
                    entry.depth() == 0
                        || entry
                            .file_name()
                            .to_str()
                            .is_some_and(|n| n != "node_modules")
                });
            builder.build_parallel().run(|| {
                Box::new(|entry| {
                    let Ok(entry) = entry else {
                        return WalkState::Continue;
                    };
                    if entry.file_type().is_some_and(|t| t.is_file())
                        && self.is_walked_file(root, entry.path())
                        && let Ok(mut found) = found.lock()
                    {
                        found.push(entry.into_path());
                    }
                    WalkState::Continue
                })
            });
        }
        let mut found = found.into_inner().unwrap_or_default();
        // Byte order: comparing paths component by component costs several times more.
        found.sort_unstable_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        found.dedup_by(|a, b| a.as_os_str() == b.as_os_str());
        found
    }

    fn is_walked_file(&self, root: &Path, path: &Path) -> bool {
        is_source_file(path)
            && (self.globs.is_empty()
                || path
                    .strip_prefix(root)
                    .is_ok_and(|relative| !self.globs.is_match(relative)))
    }
}
