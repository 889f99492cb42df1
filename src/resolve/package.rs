//! Package identity of files under `node_modules`, and whether a bare specifier names a
//! package that is certainly not installed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::DirCache;

/// The root directory of an installed package and its name, as Node finds it: the directory
/// after the last `node_modules` segment (two for `@scope/name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageRoot {
    pub name: String,
    pub dir: PathBuf,
}

/// What a package's `package.json` says about it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PackageInfo {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

pub fn package_root_of(path: &Path) -> Option<PackageRoot> {
    // String search instead of collecting components: this runs for every dependency module.
    let text = path.to_str()?;
    let marker = format!("{sep}node_modules{sep}", sep = std::path::MAIN_SEPARATOR);
    let after = text.rfind(&marker)? + marker.len();
    let rest = &text[after..];
    let mut parts = rest.split(std::path::MAIN_SEPARATOR);
    let first = parts.next().filter(|p| !p.is_empty())?;
    let name_len = if first.starts_with('@') {
        let second = parts.next().filter(|p| !p.is_empty())?;
        first.len() + 1 + second.len()
    } else {
        first.len()
    };
    // A file directly in node_modules (or the scope folder) belongs to no package.
    if rest.len() <= name_len {
        return None;
    }
    let name = rest[..name_len].replace(std::path::MAIN_SEPARATOR, "/");
    Some(PackageRoot {
        name,
        dir: PathBuf::from(&text[..after + name_len]),
    })
}

/// The package name a bare specifier starts with: `a`, `@s/a`.
pub fn package_name(specifier: &str) -> Option<&str> {
    let mut parts = specifier.splitn(3, '/');
    let first = parts.next()?;
    if first.is_empty() {
        return None;
    }
    if first.starts_with('@') {
        let second = parts.next().filter(|s| !s.is_empty())?;
        Some(&specifier[..first.len() + 1 + second.len()])
    } else {
        Some(first)
    }
}

/// Files whose presence means bare specifiers may be aliases (bundler or TS path mapping).
const ALIAS_CONFIG_PREFIXES: &[&str] = &[
    "vite.config.",
    "vitest.config.",
    "webpack.config.",
    "rollup.config.",
    "babel.config.",
    ".babelrc",
    "tsup.config.",
    "rspack.config.",
    "next.config.",
    "nuxt.config.",
    "svelte.config.",
    "astro.config.",
    "jest.config.",
];

/// True only when a `node_modules` directory exists above the importer, none of them holds the
/// package, and nothing suggests the name is an alias.
pub fn package_is_certainly_missing(dirs: &DirCache, importer: &Path, specifier: &str) -> bool {
    // Provided by the runtime agent (`modgraph run`), not by node_modules.
    if specifier == "modgraph/worker" {
        return false;
    }
    let Some(name) = package_name(specifier) else {
        return false;
    };
    if name.starts_with('@') && name.len() < 3 || name.starts_with('~') || name.contains(':') {
        return false;
    }
    let Some(importer_dir) = importer.parent() else {
        return false;
    };
    let mut saw_node_modules = false;
    let mut project_dir: Option<&Path> = None;
    for ancestor in importer_dir.ancestors() {
        if ancestor.file_name().is_some_and(|n| n == "node_modules") {
            return false; // a dependency module: not ours to judge
        }
        if project_dir.is_none() && dirs.contains(ancestor, "package.json") {
            project_dir = Some(ancestor);
        }
        if dirs.contains(ancestor, "node_modules") {
            saw_node_modules = true;
            let modules = ancestor.join("node_modules");
            let exists = match name.split_once('/') {
                Some((scope, rest)) => dirs.contains(&modules.join(scope), rest),
                None => dirs.contains(&modules, name),
            };
            if exists || dirs.contains(&modules.join("@types"), &types_name(name)) {
                return false;
            }
        }
    }
    if !saw_node_modules {
        return false;
    }
    let Some(project_dir) = project_dir else {
        return true;
    };
    if provided_by_others(project_dir, name) {
        return false;
    }
    let Some(entries) = dirs.list(project_dir) else {
        return false;
    };
    if entries
        .iter()
        .any(|e| ALIAS_CONFIG_PREFIXES.iter().any(|p| e.starts_with(p)))
    {
        return false;
    }
    true
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DependencyLists {
    #[serde(default)]
    peer_dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    dev_dependencies: BTreeMap<String, serde_json::Value>,
}

/// Peer, optional and dev dependencies are expected to be absent in some installs: whoever uses
/// the package provides them, the code copes without, or dev tools are not installed.
fn provided_by_others(project_dir: &Path, name: &str) -> bool {
    let Ok(bytes) = std::fs::read(project_dir.join("package.json")) else {
        return false;
    };
    // An unreadable manifest tells nothing: stay silent.
    let Ok(lists) = serde_json::from_slice::<DependencyLists>(&bytes) else {
        return true;
    };
    lists.peer_dependencies.contains_key(name)
        || lists.optional_dependencies.contains_key(name)
        || lists.dev_dependencies.contains_key(name)
}

/// `@types` folder name of a package: `a` → `a`, `@s/a` → `s__a`.
fn types_name(name: &str) -> String {
    match name.strip_prefix('@').and_then(|n| n.split_once('/')) {
        Some((scope, rest)) => format!("{scope}__{rest}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_roots() {
        let root = package_root_of(Path::new("/p/node_modules/a/node_modules/@s/b/lib/x.js"));
        assert_eq!(
            root,
            Some(PackageRoot {
                name: "@s/b".into(),
                dir: PathBuf::from("/p/node_modules/a/node_modules/@s/b")
            })
        );
        assert_eq!(package_root_of(Path::new("/p/src/x.js")), None);
        assert_eq!(package_root_of(Path::new("/p/node_modules/x.js")), None);
    }

    #[test]
    fn package_names() {
        assert_eq!(package_name("lodash/get"), Some("lodash"));
        assert_eq!(package_name("@s/a/b"), Some("@s/a"));
        assert_eq!(package_name("@s"), None);
    }
}
