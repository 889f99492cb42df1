//! Which modules have a specifier that might resolve differently when a path appears or
//! disappears. Keyed by the lower-cased last name a specifier mentions (extension stripped),
//! so a new `src/Util.ts` finds `./util.js`, `../src/util` and `@alias/util`.

use std::path::{Component, Path, PathBuf};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::extract::ModuleFacts;
use crate::graph::FileId;
use crate::resolve::{MODULE_EXTENSIONS, is_path_specifier};

#[derive(Default)]
pub struct SpecifierIndex {
    by_key: FxHashMap<String, FxHashSet<FileId>>,
}

fn stem(name: &str) -> String {
    let lower = name.to_lowercase();
    for declaration in [".d.ts", ".d.mts", ".d.cts"] {
        if let Some(s) = lower.strip_suffix(declaration) {
            return s.to_string();
        }
    }
    for ext in MODULE_EXTENSIONS {
        if let Some(s) = lower.strip_suffix(ext) {
            return s.to_string();
        }
    }
    lower
}

/// Lexical normalisation (no file-system access): resolves `.` and `..`.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn specifier_keys(importer: &Path, specifier: &str, keys: &mut Vec<String>) {
    if is_path_specifier(specifier) {
        // The common case needs no path arithmetic: the last segment names the file or folder.
        if let Some(last) = specifier
            .rsplit('/')
            .next()
            .filter(|l| !matches!(*l, "" | "." | ".."))
        {
            keys.push(stem(last));
            return;
        }
        let base = importer.parent().unwrap_or(Path::new("/"));
        let target = normalize(&base.join(specifier));
        if let Some(name) = target.file_name().and_then(|n| n.to_str()) {
            keys.push(stem(name));
        }
    } else {
        let trimmed = specifier.trim_end_matches('/');
        if let Some(last) = trimmed.rsplit('/').next() {
            keys.push(stem(last));
        }
        if let Some(name) = crate::resolve::package_name_of(specifier) {
            keys.push(name.to_lowercase());
        }
    }
}

/// Whether `specifier`, written in `importer`, could resolve to `path` or through its folder.
/// Relative specifiers are checked lexically (ignoring letter case, for case mismatches): the
/// target must lie in `path`'s folder, or be that folder (directory imports of `index` files).
/// Anything else (packages, aliases) may point anywhere.
fn may_name(importer: &Path, specifier: &str, path: &Path) -> bool {
    if !is_path_specifier(specifier) {
        return true;
    }
    let base = importer.parent().unwrap_or(Path::new("/"));
    let target = normalize(&base.join(specifier));
    let lower = |p: &Path| p.to_string_lossy().to_lowercase();
    let Some(folder) = path.parent() else {
        return true;
    };
    let folder = lower(folder);
    target.parent().is_some_and(|p| lower(p) == folder) || lower(&target) == folder
}

/// Decides which sites [`SpecifierIndex::candidates`] finds for one path and [`may_name`]
/// allows: the sites to resolve again when the path appears or disappears.
pub struct SiteMatcher<'a> {
    path: &'a Path,
    keys: Vec<String>,
}

impl<'a> SiteMatcher<'a> {
    pub fn new(path: &'a Path) -> Self {
        Self {
            path,
            keys: path_keys(path),
        }
    }

    pub fn matches(&self, importer: &Path, specifier: &str) -> bool {
        let mut keys = Vec::with_capacity(2);
        specifier_keys(importer, specifier, &mut keys);
        keys.iter().any(|k| self.keys.contains(k)) && may_name(importer, specifier, self.path)
    }
}

/// Keys under which a change of `path` is looked up.
fn path_keys(path: &Path) -> Vec<String> {
    let mut keys = Vec::with_capacity(2);
    if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
        keys.push(stem(name));
    }
    if let Some(parent) = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
    {
        keys.push(parent.to_lowercase());
    }
    if let Some(root) = crate::resolve::package_root_of(path) {
        keys.push(root.name.to_lowercase());
    }
    keys
}

impl SpecifierIndex {
    /// Replaces the entries of `id` from `before` with those from `after`.
    pub fn update(
        &mut self,
        id: FileId,
        path: &Path,
        before: Option<&ModuleFacts>,
        after: Option<&ModuleFacts>,
    ) {
        let mut keys = Vec::new();
        if let Some(facts) = before {
            for site in &facts.imports {
                specifier_keys(path, &site.specifier, &mut keys);
            }
            for key in keys.drain(..) {
                if let Some(set) = self.by_key.get_mut(&key) {
                    set.remove(&id);
                }
            }
        }
        if let Some(facts) = after {
            for site in &facts.imports {
                specifier_keys(path, &site.specifier, &mut keys);
            }
            for key in keys.drain(..) {
                self.by_key.entry(key).or_default().insert(id);
            }
        }
    }

    /// Modules that mention a name `path` could satisfy.
    pub fn candidates(&self, path: &Path) -> FxHashSet<FileId> {
        let mut out = FxHashSet::default();
        for key in path_keys(path) {
            if let Some(set) = self.by_key.get(&key) {
                out.extend(set.iter().copied());
            }
        }
        out
    }
}
