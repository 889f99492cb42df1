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
    /// key → (module, index of the import site)
    by_key: FxHashMap<String, FxHashSet<(FileId, u32)>>,
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

/// The index keys of `specifier`, written in a module of the folder `base`.
fn specifier_keys(base: &Path, specifier: &str, keys: &mut Vec<String>) {
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

/// Whether `specifier`, written in a module of the folder `base`, could resolve to `path` or
/// through its folder.
/// Relative specifiers are checked lexically (ignoring letter case, for case mismatches): the
/// target must lie in `path`'s folder, or be that folder (directory imports of `index` files).
/// Anything else (packages, aliases) may point anywhere.
fn may_name(base: &Path, specifier: &str, path: &Path) -> bool {
    if !is_path_specifier(specifier) {
        return true;
    }
    let target = normalize(&base.join(specifier));
    let lower = |p: &Path| p.to_string_lossy().to_lowercase();
    let Some(folder) = path.parent() else {
        return true;
    };
    let folder = lower(folder);
    target.parent().is_some_and(|p| lower(p) == folder) || lower(&target) == folder
}

/// Decides which sites [`SpecifierIndex::candidates`] finds for one path and [`may_name`]
/// allows: the sites to resolve again when the path appears or disappears. A change may check
/// thousands of sites, so ASCII specifiers (nearly all) are matched without allocating; the
/// answer is the same as [`specifier_keys`] and [`may_name`] give.
pub struct SiteMatcher<'a> {
    path: &'a Path,
    keys: Vec<String>,
    /// The segments of `path`'s folder, lower-cased, when the folder is ASCII.
    folder: Option<Vec<String>>,
}

impl<'a> SiteMatcher<'a> {
    pub fn new(path: &'a Path) -> Self {
        let folder = path
            .parent()
            .and_then(Path::to_str)
            .filter(|f| f.is_ascii() && f.starts_with('/'))
            .map(|f| {
                f.split('/')
                    .filter(|s| !s.is_empty())
                    .map(str::to_ascii_lowercase)
                    .collect()
            });
        Self {
            path,
            keys: path_keys(path),
            folder,
        }
    }

    /// Whether `specifier`, written in a module of the folder `base`, may name the path. The
    /// importer's folder is all that counts, so callers can ask once per folder and specifier.
    pub fn matches(&self, base: &Path, specifier: &str) -> bool {
        let named = match self.keys_match_ascii(specifier) {
            Some(named) => named,
            None => {
                let mut keys = Vec::with_capacity(2);
                specifier_keys(base, specifier, &mut keys);
                keys.iter().any(|k| self.keys.contains(k))
            }
        };
        named
            && match self.folder_match_ascii(base, specifier) {
                Some(named) => named,
                None => may_name(base, specifier, self.path),
            }
    }

    /// [`specifier_keys`] against the keys, for ASCII specifiers whose last segment names
    /// something; `None` otherwise.
    fn keys_match_ascii(&self, specifier: &str) -> Option<bool> {
        if !specifier.is_ascii() {
            return None;
        }
        let any = |candidate: &str| self.keys.iter().any(|k| k.eq_ignore_ascii_case(candidate));
        if is_path_specifier(specifier) {
            let last = specifier.rsplit('/').next()?;
            if matches!(last, "" | "." | "..") {
                return None;
            }
            return Some(any(ascii_stem(last)));
        }
        let last = specifier.trim_end_matches('/').rsplit('/').next()?;
        Some(any(ascii_stem(last)) || crate::resolve::package_name_of(specifier).is_some_and(any))
    }

    /// [`may_name`] for an ASCII importer and a `./` or `../` specifier; `None` otherwise.
    fn folder_match_ascii(&self, base: &Path, specifier: &str) -> Option<bool> {
        if !is_path_specifier(specifier) {
            return Some(true);
        }
        if !(specifier.starts_with("./") || specifier.starts_with("../")) || !specifier.is_ascii() {
            return None;
        }
        let folder = self.folder.as_ref()?;
        let base = base.to_str()?;
        if !base.is_ascii() || !base.starts_with('/') {
            return None;
        }
        let mut target: Vec<&str> = Vec::with_capacity(16);
        for segment in base.split('/').chain(specifier.split('/')) {
            match segment {
                "" | "." => {}
                ".." => {
                    target.pop();
                }
                name => target.push(name),
            }
        }
        let same = |segments: &[&str]| {
            segments.len() == folder.len()
                && segments
                    .iter()
                    .zip(folder)
                    .all(|(s, f)| s.eq_ignore_ascii_case(f))
        };
        let parent_is_folder = target.split_last().is_some_and(|(_, parent)| same(parent));
        Some(parent_is_folder || same(&target))
    }
}

/// [`stem`] of an ASCII name, as a slice of it (not lower-cased).
fn ascii_stem(name: &str) -> &str {
    let ends_with = |suffix: &str| {
        name.len() >= suffix.len() && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    for suffix in [".d.ts", ".d.mts", ".d.cts"]
        .iter()
        .chain(MODULE_EXTENSIONS)
    {
        if ends_with(suffix) {
            return &name[..name.len() - suffix.len()];
        }
    }
    name
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
        let base = path.parent().unwrap_or(Path::new("/"));
        let mut keys = Vec::new();
        if let Some(facts) = before {
            for (site, import) in facts.imports.iter().enumerate() {
                specifier_keys(base, &import.specifier, &mut keys);
                for key in keys.drain(..) {
                    if let Some(set) = self.by_key.get_mut(&key) {
                        set.remove(&(id, site as u32));
                        if set.is_empty() {
                            self.by_key.remove(&key);
                        }
                    }
                }
            }
        }
        if let Some(facts) = after {
            for (site, import) in facts.imports.iter().enumerate() {
                specifier_keys(base, &import.specifier, &mut keys);
                for key in keys.drain(..) {
                    self.by_key
                        .entry(key)
                        .or_default()
                        .insert((id, site as u32));
                }
            }
        }
    }

    /// Import sites (module, index among its imports) that mention a name `path` could
    /// satisfy.
    pub fn candidates(&self, path: &Path) -> FxHashSet<(FileId, u32)> {
        let mut out = FxHashSet::default();
        for key in path_keys(path) {
            if let Some(set) = self.by_key.get(&key) {
                out.extend(set.iter().copied());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What [`SiteMatcher::matches`] answers, by the allocating definitions alone.
    fn reference(path: &Path, base: &Path, specifier: &str) -> bool {
        let mut keys = Vec::new();
        specifier_keys(base, specifier, &mut keys);
        let path_keys = path_keys(path);
        keys.iter().any(|k| path_keys.contains(k)) && may_name(base, specifier, path)
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(".".to_string()),
            Just("..".to_string()),
            Just(String::new()),
            Just("Util".to_string()),
            Just("util.JS".to_string()),
            Just("util.d.ts".to_string()),
            Just("index".to_string()),
            Just("src".to_string()),
            Just("SRC".to_string()),
            Just("@scope".to_string()),
            Just("pkg".to_string()),
            Just("Ünï".to_string()),
            Just("\u{212A}it".to_string()),
        ]
    }

    fn joined(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(segment(), 0..max).prop_map(|s| s.join("/"))
    }

    /// A folder as the graph has them: absolute and normalised, so no `.`, `..` or empty name.
    fn folder(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(segment(), 0..max).prop_map(|s| {
            s.into_iter()
                .filter(|s| !matches!(s.as_str(), "" | "." | ".."))
                .map(|s| format!("/{s}"))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn the_matcher_agrees_with_the_allocating_definitions(
            folder in folder(4),
            file in segment().prop_filter("a file name", |s| !matches!(s.as_str(), "" | "." | "..")),
            importer_dir in folder(5),
            prefix in prop_oneof![Just("./"), Just("../"), Just("/"), Just(""), Just("../../")],
            rest in joined(4),
        ) {
            let path = PathBuf::from(format!("{folder}/{file}"));
            let base = PathBuf::from(importer_dir);
            let specifier = format!("{prefix}{rest}");
            let matcher = SiteMatcher::new(&path);
            prop_assert_eq!(
                matcher.matches(&base, &specifier),
                reference(&path, &base, &specifier),
                "path {:?}, folder {:?}, specifier {:?}", path, base, specifier
            );
        }
    }

    #[test]
    fn a_site_in_the_folder_of_a_path_is_matched_in_any_letter_case() {
        let path = Path::new("/w/src/Util.ts");
        let matcher = SiteMatcher::new(path);
        assert!(matcher.matches(Path::new("/w/src"), "./util.js"));
        assert!(matcher.matches(Path::new("/w/lib"), "../SRC/util"));
        assert!(!matcher.matches(Path::new("/w/lib"), "./util"));
        assert!(!matcher.matches(Path::new("/w/src"), "./other"));
        assert!(matcher.matches(Path::new("/w/src"), "@alias/util"));
    }
}
