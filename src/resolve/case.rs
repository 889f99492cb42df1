//! Letter-case check of specifiers against real directory entries. On Linux a wrong case
//! fails to resolve; on case-insensitive volumes it resolves to a second cache key.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use dashmap::DashMap;

use super::MODULE_EXTENSIONS;

/// Directory listings, cached per directory. Shared by the parallel indexer.
#[derive(Default)]
pub struct DirCache {
    listings: DashMap<PathBuf, Option<Arc<[String]>>>,
}

impl DirCache {
    /// Entry names of `dir` (names that are not UTF-8 are skipped), `None` if not a directory.
    pub fn list(&self, dir: &Path) -> Option<Arc<[String]>> {
        if let Some(cached) = self.listings.get(dir) {
            return cached.clone();
        }
        let listing: Option<Arc<[String]>> = std::fs::read_dir(dir).ok().map(|entries| {
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            names.sort_unstable();
            names.into()
        });
        self.listings.insert(dir.to_path_buf(), listing.clone());
        listing
    }

    pub fn contains(&self, dir: &Path, name: &str) -> bool {
        self.list(dir).is_some_and(|names| holds(&names, name))
    }

    /// Forgets the listing of `path`'s parent, and of each folder above it that is not known
    /// to hold the next folder down: folders on the way may have appeared with `path`.
    pub fn forget_ancestors(&self, path: &Path) {
        let mut child = path;
        let mut first = true;
        while let (Some(dir), Some(name)) = (child.parent(), child.file_name()) {
            let known = name.to_str().and_then(|name| {
                let listing = self.listings.get(dir)?;
                Some(listing.as_ref().is_some_and(|names| holds(names, name)))
            });
            if !first && known == Some(true) {
                break;
            }
            self.listings.remove(dir);
            first = false;
            child = dir;
        }
    }

    /// Forgets `path` and every folder under it.
    pub fn forget_under(&self, path: &Path) {
        let prefix = path.as_os_str().as_encoded_bytes();
        self.listings.retain(|dir, _| {
            let dir = dir.as_os_str().as_encoded_bytes();
            !(dir.starts_with(prefix)
                && (dir.len() == prefix.len()
                    || dir[prefix.len()] == std::path::MAIN_SEPARATOR as u8))
        });
    }

    pub fn clear(&self) {
        self.listings.clear();
    }
}

/// Whether a sorted listing holds `name`.
fn holds(names: &[String], name: &str) -> bool {
    names.binary_search_by(|n| n.as_str().cmp(name)).is_ok()
}

/// Whether the volume holding `dir` ignores letter case.
pub fn is_case_insensitive(dir: &Path) -> bool {
    let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let flipped: String = name
        .chars()
        .map(|c| {
            if c.is_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    flipped != name && dir.with_file_name(flipped).exists()
}

/// The specifier with each path segment in the case found on disk, if any segment differs
/// only in case. `None` when the specifier is already right or no unique match exists.
pub fn correct_case(dirs: &DirCache, importer: &Path, specifier: &str) -> Option<String> {
    let importer_dir = importer.parent()?;
    let segments: Vec<&str> = specifier.split('/').collect();
    let base = if super::is_path_specifier(specifier) {
        if specifier.starts_with('/') {
            PathBuf::from("/")
        } else {
            importer_dir.to_path_buf()
        }
    } else {
        package_base(dirs, importer_dir, &segments)?
    };
    let mut current = base;
    let mut corrected: Vec<String> = Vec::with_capacity(segments.len());
    let mut changed = false;
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "" | "." => corrected.push((*segment).to_string()),
            ".." => {
                current.pop();
                corrected.push("..".into());
            }
            _ => {
                let entries = dirs.list(&current)?;
                if entries
                    .binary_search_by(|n| n.as_str().cmp(segment))
                    .is_ok()
                {
                    corrected.push((*segment).to_string());
                    current.push(segment);
                    continue;
                }
                let lower = segment.to_lowercase();
                let mut same: Vec<&String> = entries
                    .iter()
                    .filter(|e| e.to_lowercase() == lower)
                    .collect();
                if same.len() == 1 {
                    let entry = same.remove(0);
                    changed |= entry != segment;
                    current.push(entry);
                    corrected.push(entry.clone());
                    continue;
                }
                if i != last || !same.is_empty() {
                    return None;
                }
                // `./Utils.js` meaning `utils.ts` (TypeScript's extension rule).
                if let Some(stem_case) = ts_counterpart(&entries, segment) {
                    changed |= stem_case != segment[..stem_case.len()];
                    corrected.push(format!("{stem_case}{}", &segment[stem_case.len()..]));
                    continue;
                }
                // Extensionless last segment: `./Utils` for `utils.js`.
                let stems: Vec<&str> = entries
                    .iter()
                    .filter(|e| {
                        e.len() > segment.len()
                            && e.is_char_boundary(segment.len())
                            && e[..segment.len()].to_lowercase() == lower
                            && MODULE_EXTENSIONS.contains(&&e[segment.len()..])
                    })
                    .map(|e| &e[..segment.len()])
                    .collect();
                let first = *stems.first()?;
                if stems.iter().any(|s| *s != first) {
                    return None;
                }
                changed |= first != *segment;
                corrected.push(first.to_string());
            }
        }
    }
    changed.then(|| corrected.join("/"))
}

/// For `name.js` (or `.mjs`, `.cjs`, `.jsx`), the on-disk spelling of `name` when exactly one
/// TypeScript counterpart (`Name.ts`, …) matches it ignoring case.
fn ts_counterpart(entries: &[String], segment: &str) -> Option<String> {
    let (stem, ext) = segment.rsplit_once('.')?;
    let alternatives: &[&str] = match ext {
        "js" => &["ts", "tsx"],
        "jsx" => &["tsx"],
        "mjs" => &["mts"],
        "cjs" => &["cts"],
        _ => return None,
    };
    let lower = stem.to_lowercase();
    let matches: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.rsplit_once('.'))
        .filter(|(s, x)| alternatives.contains(x) && s.to_lowercase() == lower)
        .map(|(s, _)| s)
        .collect();
    match matches.as_slice() {
        [one] => Some((*one).to_string()),
        _ => None,
    }
}

/// The `node_modules` directory whose entries should hold the package named by `segments`.
fn package_base(dirs: &DirCache, importer_dir: &Path, segments: &[&str]) -> Option<PathBuf> {
    let name = *segments.first()?;
    let lower = name.to_lowercase();
    for ancestor in importer_dir.ancestors() {
        if ancestor
            .components()
            .next_back()
            .is_some_and(|c| c == Component::Normal("node_modules".as_ref()))
        {
            continue;
        }
        let modules = ancestor.join("node_modules");
        if let Some(entries) = dirs.list(&modules)
            && entries.iter().any(|e| e.to_lowercase() == lower)
        {
            return Some(modules);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_a_folder_forgets_the_folders_under_it_and_no_sibling() {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["a/b", "ab", "c"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        let cache = DirCache::default();
        for sub in ["a", "a/b", "ab", "c"] {
            assert!(cache.list(&dir.path().join(sub)).is_some());
        }
        std::fs::write(dir.path().join("a/b/new.js"), "").expect("write");
        std::fs::write(dir.path().join("ab/new.js"), "").expect("write");
        cache.forget_under(&dir.path().join("a"));
        assert!(cache.contains(&dir.path().join("a/b"), "new.js"));
        // A sibling whose name starts the same keeps its (now stale) listing.
        assert!(!cache.contains(&dir.path().join("ab"), "new.js"));
    }

    #[test]
    fn folders_that_appear_with_a_file_are_seen_in_the_listings_above_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = DirCache::default();
        assert!(!cache.contains(dir.path(), "node_modules"));
        let file = dir.path().join("node_modules/pkg/index.js");
        std::fs::create_dir_all(dir.path().join("node_modules/pkg")).expect("mkdir");
        std::fs::write(&file, "").expect("write");
        cache.forget_ancestors(&file);
        assert!(cache.contains(dir.path(), "node_modules"));
    }
}
