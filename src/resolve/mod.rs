//! Specifier → module identity. Wraps `oxc_resolver` with Node's conditions per import kind,
//! TypeScript's extension rules, a letter-case check and package identity.
//!
//! Resolution is lenient on purpose (extensionless ESM paths, `.js` meaning `.ts`): a specifier is
//! only called missing when no reasonable runtime or loader could find it.

mod case;
mod package;

pub use case::DirCache;
pub use package::{PackageInfo, PackageRoot, package_name as package_name_of, package_root_of};

use std::path::{Path, PathBuf};

use oxc_resolver::{ResolveError, ResolveOptions, Resolver, TsconfigDiscovery};
use rustc_hash::FxHashMap;

use crate::extract::ImportKind;

/// Extensions tried for extensionless specifiers, in the order loaders try them.
pub const MODULE_EXTENSIONS: &[&str] = &[
    ".js", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts", ".jsx", ".json", ".node",
];

/// What a specifier resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A file on disk (real path).
    File(PathBuf),
    /// `fs`, `node:test`, …
    Builtin,
    /// Certainly not loadable: a relative/absolute path with no file, or a package that is not
    /// installed while `node_modules` exists.
    NotFound,
    /// The specifier differs in letter case from the file on disk.
    CaseMismatch {
        /// The specifier with the case of the file system.
        corrected: String,
        /// The file it means.
        path: PathBuf,
        /// Whether the file system resolved the wrong case anyway (case-insensitive volumes).
        resolves_anyway: bool,
    },
    /// Anything we cannot be sure of (aliases, URLs, unexported subpaths, loader magic).
    Unknown,
}

/// What a resolution depends on: resolutions with equal scopes give equal answers.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct ResolutionScope<'a> {
    /// The importer's folder, or the importer where a tsconfig may govern it.
    base: &'a [u8],
    class: ImporterClass,
    conditions: Conditions,
    specifier: &'a str,
}

/// The kinds of importer that resolve differently (declaration files, other TypeScript).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum ImporterClass {
    Declaration,
    TypeScript,
    Other,
}

impl ImporterClass {
    fn of(importer: &Path) -> Self {
        if is_declaration_file(importer) {
            Self::Declaration
        } else if is_typescript_file(importer) {
            Self::TypeScript
        } else {
            Self::Other
        }
    }
}

/// What resolving from one importer needs to know of it, worked out once for all its sites.
#[derive(Clone, Copy)]
pub struct Importer<'a> {
    path: &'a Path,
    is_declaration: bool,
    /// The importer's folder when no tsconfig can govern it: resolution may start there.
    tsconfig_free_dir: Option<&'a Path>,
}

/// Which resolver conditions a site uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Conditions {
    Import,
    Require,
}

impl Conditions {
    pub fn of(kind: ImportKind) -> Self {
        if kind.uses_import_conditions() {
            Self::Import
        } else {
            Self::Require
        }
    }
}

/// The resolvers of one workspace. Both share one cache; [`ModuleResolver::forget_layout`] must
/// be called when files appear or disappear, [`ModuleResolver::clear_cache`] when a
/// `package.json`/`tsconfig.json` changes.
pub struct ModuleResolver {
    esm: Resolver,
    cjs: Resolver,
    extra_conditions: Vec<String>,
    pub dirs: DirCache,
    case_insensitive_fs: bool,
    /// Broken `tsconfig.json`/`package.json` files met while resolving (path → problem).
    pub problems: dashmap::DashMap<PathBuf, String>,
    /// Folder (path bytes) → whether no `tsconfig.json` can govern its modules (see
    /// [`Self::no_tsconfig_governs`]).
    tsconfig_free: dashmap::DashMap<Box<[u8]>, bool>,
}

fn options(conditions: &[&str], extra: &[String]) -> ResolveOptions {
    ResolveOptions {
        condition_names: conditions
            .iter()
            .map(|c| c.to_string())
            .chain(extra.iter().cloned())
            .collect(),
        extensions: MODULE_EXTENSIONS.iter().map(|e| e.to_string()).collect(),
        extension_alias: vec![
            (
                ".js".into(),
                vec![".js".into(), ".ts".into(), ".tsx".into()],
            ),
            (".jsx".into(), vec![".jsx".into(), ".tsx".into()]),
            (".mjs".into(), vec![".mjs".into(), ".mts".into()]),
            (".cjs".into(), vec![".cjs".into(), ".cts".into()]),
        ],
        main_fields: vec!["main".into()],
        tsconfig: Some(TsconfigDiscovery::Auto),
        builtin_modules: true,
        node_path: false,
        symlinks: true,
        ..ResolveOptions::default()
    }
}

fn resolvers(extra_conditions: &[String]) -> (Resolver, Resolver) {
    let esm = Resolver::new(options(&["node", "import"], extra_conditions));
    let cjs = esm.clone_with_options(options(&["node", "require"], extra_conditions));
    (esm, cjs)
}

impl ModuleResolver {
    pub fn new(extra_conditions: &[String], probe_dir: &Path) -> Self {
        let (esm, cjs) = resolvers(extra_conditions);
        Self {
            esm,
            cjs,
            extra_conditions: extra_conditions.to_vec(),
            dirs: DirCache::default(),
            case_insensitive_fs: case::is_case_insensitive(probe_dir),
            problems: Default::default(),
            tsconfig_free: Default::default(),
        }
    }

    /// Forget every cached file-system fact (resolver cache and directory listings).
    pub fn clear_cache(&self) {
        self.esm.clear_cache();
        self.dirs.clear();
        self.tsconfig_free.clear();
    }

    /// A file or folder appeared or disappeared at `path`: forget the file-system facts that
    /// may have changed. oxc_resolver only forgets its cache as a whole, so a fresh cache
    /// replaces it; the old one is freed on another thread, as freeing tens of thousands of
    /// entries takes milliseconds. Of the directory listings, only those of `path`, the
    /// folders under it and the folders above it that changed go.
    pub fn forget_layout(&mut self, path: &Path) {
        let (esm, cjs) = resolvers(&self.extra_conditions);
        let old = (
            std::mem::replace(&mut self.esm, esm),
            std::mem::replace(&mut self.cjs, cjs),
        );
        crate::background::drop_elsewhere(old);
        self.dirs.forget_under(path);
        self.dirs.forget_ancestors(path);
        // `path` may be a folder that held or holds a `tsconfig.json`; a `tsconfig.json`
        // itself concerns every folder under its own.
        let top = match path.parent() {
            Some(parent) if path.file_name().is_some_and(|n| n == "tsconfig.json") => parent,
            _ => path,
        };
        let at = top.as_os_str().as_encoded_bytes();
        self.tsconfig_free.retain(|dir, _| {
            !(dir.starts_with(at)
                && (dir.len() == at.len()
                    || dir.get(at.len()) == Some(&(std::path::MAIN_SEPARATOR as u8))))
        });
    }

    /// Resolves many sites (importer, kind, specifier), in parallel, asking oxc_resolver once
    /// per distinct question: after a file appears or disappears, hundreds of importers in one
    /// folder often write the same specifier, and each would otherwise cost a cold lookup.
    pub fn resolve_many(&self, sites: &[(&Path, ImportKind, &str)]) -> Vec<Resolved> {
        use rayon::prelude::*;
        let mut questions: FxHashMap<ResolutionScope<'_>, usize> = FxHashMap::default();
        let mut asked: Vec<usize> = Vec::new();
        let answer_of: Vec<usize> = sites
            .iter()
            .enumerate()
            .map(|(at, &(importer, kind, specifier))| {
                let dir = importer.parent().unwrap_or(importer);
                let shared = self.no_tsconfig_governs(dir);
                let scope = ResolutionScope {
                    // A tsconfig's `include` and `files` name files: then the file counts.
                    base: if shared { dir } else { importer }
                        .as_os_str()
                        .as_encoded_bytes(),
                    class: ImporterClass::of(importer),
                    conditions: Conditions::of(kind),
                    specifier,
                };
                *questions.entry(scope).or_insert_with(|| {
                    asked.push(at);
                    asked.len() - 1
                })
            })
            .collect();
        let answers: Vec<Resolved> = asked
            .par_iter()
            .map(|&at| {
                let (importer, kind, specifier) = sites[at];
                self.resolve(importer, kind, specifier)
            })
            .collect();
        answer_of
            .into_iter()
            .map(|answer| answers[answer].clone())
            .collect()
    }

    /// Whether resolution from modules of `dir` cannot depend on which module asks: no
    /// `tsconfig.json` in it or a folder above it, or `dir` is inside `node_modules` (where
    /// oxc_resolver looks for none). Then oxc_resolver's per-file tsconfig lookup is skipped.
    fn no_tsconfig_governs(&self, dir: &Path) -> bool {
        let key = dir.as_os_str().as_encoded_bytes();
        if let Some(free) = self.tsconfig_free.get(key) {
            return *free;
        }
        let free = if dir.components().any(|c| c.as_os_str() == "node_modules") {
            true
        } else {
            // Anything by that name counts: resolving per module is only slower.
            std::fs::symlink_metadata(dir.join("tsconfig.json")).is_err()
                && dir
                    .parent()
                    .is_none_or(|parent| self.no_tsconfig_governs(parent))
        };
        self.tsconfig_free.insert(key.into(), free);
        free
    }

    /// What resolving from `path` needs to know of it, for [`Self::resolve_in`].
    pub fn importer<'a>(&self, path: &'a Path) -> Importer<'a> {
        Importer {
            path,
            is_declaration: is_declaration_file(path),
            tsconfig_free_dir: path.parent().filter(|dir| self.no_tsconfig_governs(dir)),
        }
    }

    /// Resolves `specifier` as written in `importer` at a site of `kind`.
    pub fn resolve(&self, importer: &Path, kind: ImportKind, specifier: &str) -> Resolved {
        self.resolve_in(&self.importer(importer), kind, specifier)
    }

    /// [`Self::resolve`] for one of the sites of an importer worked out beforehand.
    pub fn resolve_in(
        &self,
        importer: &Importer<'_>,
        kind: ImportKind,
        specifier: &str,
    ) -> Resolved {
        let Importer {
            path: importer_path,
            is_declaration,
            ..
        } = *importer;
        if specifier.is_empty() {
            return Resolved::Unknown;
        }
        if specifier.starts_with("node:") {
            return Resolved::Builtin;
        }
        if has_url_scheme(specifier) {
            return Resolved::Unknown;
        }
        let resolver = match Conditions::of(kind) {
            Conditions::Import => &self.esm,
            Conditions::Require => &self.cjs,
        };
        let result = if is_declaration {
            resolver.resolve_dts(importer_path, specifier)
        } else {
            self.resolve_from(resolver, importer, specifier)
        };
        match result {
            Ok(resolution) => {
                let path = resolution.into_path_buf();
                if probed_into_esm_only(kind, specifier, &path) {
                    return Resolved::Unknown;
                }
                if self.case_insensitive_fs
                    && let Some(corrected) =
                        case::correct_case(&self.dirs, importer_path, specifier)
                {
                    return Resolved::CaseMismatch {
                        corrected,
                        path,
                        resolves_anyway: true,
                    };
                }
                Resolved::File(path)
            }
            Err(ResolveError::Builtin { .. }) => Resolved::Builtin,
            Err(ResolveError::NotFound(_)) => self.not_found(resolver, importer, specifier),
            Err(error) => {
                self.note_config_problem(&error);
                Resolved::Unknown
            }
        }
    }

    /// `resolve_file`, without its lookup of the importer's tsconfig where none can govern it
    /// (the same answer: that lookup finds nothing there, and costs one per module).
    fn resolve_from(
        &self,
        resolver: &Resolver,
        importer: &Importer<'_>,
        specifier: &str,
    ) -> Result<oxc_resolver::Resolution, ResolveError> {
        match importer.tsconfig_free_dir {
            Some(dir) => resolver.resolve(dir, specifier),
            None => resolver.resolve_file(importer.path, specifier),
        }
    }

    fn not_found(&self, resolver: &Resolver, from: &Importer<'_>, specifier: &str) -> Resolved {
        let Importer {
            path: importer,
            is_declaration,
            ..
        } = *from;
        if let Some(corrected) = case::correct_case(&self.dirs, importer, specifier)
            && let Ok(resolution) = self.resolve_from(resolver, from, &corrected)
        {
            return Resolved::CaseMismatch {
                corrected,
                path: resolution.into_path_buf(),
                resolves_anyway: false,
            };
        }
        // A TS module may import a declaration-only module; its imports are elided at run time.
        if is_declaration
            || (is_typescript_file(importer) && resolver.resolve_dts(importer, specifier).is_ok())
        {
            return Resolved::Unknown;
        }
        if is_path_specifier(specifier) {
            return Resolved::NotFound;
        }
        if specifier.starts_with('#') {
            return Resolved::Unknown;
        }
        if self.maybe_tsconfig_alias(importer, specifier) {
            return Resolved::Unknown;
        }
        if package::package_is_certainly_missing(&self.dirs, importer, specifier) {
            Resolved::NotFound
        } else {
            Resolved::Unknown
        }
    }
}

impl ModuleResolver {
    fn note_config_problem(&self, error: &ResolveError) {
        match error {
            ResolveError::Json(json) => {
                self.problems.insert(
                    json.path.clone(),
                    format!("invalid JSON, ignored: {}", json.message),
                );
            }
            ResolveError::TsconfigLoadFailed { path, source } => {
                let why = match source.as_ref() {
                    ResolveError::Json(json) => json.message.clone(),
                    other => other.to_string(),
                };
                self.problems.insert(
                    path.clone(),
                    format!(
                        "cannot load tsconfig ({why}); imports of files under it are not checked"
                    ),
                );
            }
            ResolveError::TsconfigNotFound(path) => {
                self.problems.insert(
                    path.clone(),
                    "tsconfig \"extends\" or reference not found".into(),
                );
            }
            _ => {}
        }
    }

    /// Whether a `compilerOptions.paths` pattern of the importer's tsconfig matches (or the
    /// tsconfig cannot be read): then a failed bare specifier is an alias problem, not certain.
    fn maybe_tsconfig_alias(&self, importer: &Path, specifier: &str) -> bool {
        if importer
            .parent()
            .is_some_and(|dir| self.no_tsconfig_governs(dir))
        {
            return false;
        }
        let Ok(tsconfig) = self.esm.find_tsconfig(importer) else {
            return true;
        };
        let Some(tsconfig) = tsconfig else {
            return false;
        };
        let Some(paths) = &tsconfig.compiler_options.paths else {
            return false;
        };
        paths.keys().any(|pattern| match pattern.split_once('*') {
            Some((prefix, suffix)) => specifier.starts_with(prefix) && specifier.ends_with(suffix),
            None => pattern == specifier,
        })
    }
}

/// Whether a `require` of a path found an ES module only by trying extensions or a folder's
/// index: Node's CommonJS loader never tries `.mjs`, so it throws there, while a loader such as
/// jiti finds the file. Unsure either way: neither an edge to follow nor a missing module.
fn probed_into_esm_only(kind: ImportKind, specifier: &str, resolved: &Path) -> bool {
    let esm_only = matches!(file_extension(resolved), Some("mjs" | "mts"));
    esm_only
        && Conditions::of(kind) == Conditions::Require
        && is_path_specifier(specifier)
        && !(specifier.ends_with(".mjs") || specifier.ends_with(".mts"))
}

/// `./x`, `../x`, `/abs/x`, `.`, `..`
pub fn is_path_specifier(specifier: &str) -> bool {
    specifier.starts_with("./")
        || specifier.starts_with("../")
        || specifier.starts_with('/')
        || specifier == "."
        || specifier == ".."
}

/// The relative specifier (`.`, `./x/y`, `../x`) that names `to` from the folder `from_dir`,
/// both absolute. `None` when a path segment is not UTF-8.
pub fn relative_specifier(from_dir: &Path, to: &Path) -> Option<String> {
    let from: Vec<_> = from_dir.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> =
        std::iter::repeat_n("..".to_string(), from.len() - common).collect();
    for c in &to[common..] {
        parts.push(c.as_os_str().to_str()?.to_string());
    }
    let joined = parts.join("/");
    Some(if joined.is_empty() {
        ".".to_string()
    } else if joined.starts_with("..") {
        joined
    } else {
        format!("./{joined}")
    })
}

fn has_url_scheme(specifier: &str) -> bool {
    match specifier.find(':') {
        Some(i) => {
            i > 1
                && specifier[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-')
        }
        None => false,
    }
}

/// The bytes of the last component of a file's path. `Path::file_name` parses components
/// from the end, which shows in profiles: file names are looked at once or more per site.
fn file_name_bytes(path: &Path) -> &[u8] {
    let bytes = path.as_os_str().as_encoded_bytes();
    match bytes
        .iter()
        .rposition(|&b| std::path::is_separator(char::from(b)))
    {
        Some(slash) => &bytes[slash + 1..],
        None => bytes,
    }
}

/// `Path::extension` of a file's path (not a folder's: a trailing separator is not skipped),
/// without parsing its components.
pub fn file_extension(path: &Path) -> Option<&str> {
    let name = file_name_bytes(path);
    match name.iter().rposition(|&b| b == b'.') {
        // `.eslintrc` has no extension.
        Some(0) | None => None,
        Some(dot) => std::str::from_utf8(&name[dot + 1..]).ok(),
    }
}

pub fn is_declaration_file(path: &Path) -> bool {
    let name = file_name_bytes(path);
    name.ends_with(b".d.ts")
        || name.ends_with(b".d.mts")
        || name.ends_with(b".d.cts")
        || name.ends_with(b".ts") && memchr::memmem::find(name, b".d.").is_some()
}

pub fn is_typescript_file(path: &Path) -> bool {
    matches!(file_extension(path), Some("ts" | "tsx" | "mts" | "cts"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary folder and its canonical path (resolved files come back canonical).
    fn temp_root() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
        (dir, root)
    }

    #[test]
    fn relative_specifiers() {
        let spec = |a: &str, b: &str| relative_specifier(Path::new(a), Path::new(b));
        assert_eq!(spec("/p/src", "/p/src").as_deref(), Some("."));
        assert_eq!(spec("/p/src", "/p/src/lib/x").as_deref(), Some("./lib/x"));
        assert_eq!(spec("/p/src/a", "/p/lib/x").as_deref(), Some("../../lib/x"));
    }

    /// Extensions as `Path::extension` gives them, for file paths.
    #[test]
    fn file_extensions_match_the_standard_library() {
        for path in [
            "/p/a.ts",
            "/p/a.d.ts",
            "/p/.eslintrc",
            "/p/Makefile",
            "/p/a.",
            "/p.x/a",
            "a.mjs",
            "/p/a.b.c.cts",
        ] {
            let std = Path::new(path).extension().and_then(|e| e.to_str());
            assert_eq!(file_extension(Path::new(path)), std, "{path}");
        }
    }

    /// Only the file's own name counts, and every declaration extension TypeScript knows.
    #[test]
    fn declaration_files_by_name() {
        let declaration = |p: &str| is_declaration_file(Path::new(p));
        for yes in [
            "/p/a.d.ts",
            "/p/a.d.mts",
            "/p/a.d.cts",
            "/p/styles.d.css.ts",
            "a.d.ts",
        ] {
            assert!(declaration(yes), "{yes}");
        }
        for no in [
            "/p/a.ts",
            "/p/a.d.js",
            "/p/types.d.ts/index.ts",
            "/p/x.d.y/index.ts",
            "/p/d.ts",
            "/p/a.d.tsx",
        ] {
            assert!(!declaration(no), "{no}");
        }
    }

    /// `resolve_many` shares answers between importers of one folder; where a tsconfig's
    /// `include` tells them apart, or their kind of file does, each keeps its own.
    #[test]
    fn resolving_many_answers_what_resolving_each_answers() {
        let (_dir, root) = temp_root();
        let write = |rel: &str, text: &str| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().expect("folder")).expect("folder");
            std::fs::write(path, text).expect("write");
        };
        write(
            "app/tsconfig.json",
            r#"{ "compilerOptions": { "paths": { "@x": ["./x.ts"] } }, "include": ["owned.ts"] }"#,
        );
        write("app/x.ts", "");
        write("app/y.d.ts", "");
        write("lib/z.js", "");
        write("lib/v.d.ts", "");
        write(
            "node_modules/pkg/package.json",
            r#"{ "exports": { "import": "./m.mjs", "require": "./c.cjs" } }"#,
        );
        write("node_modules/pkg/m.mjs", "");
        write("node_modules/pkg/c.cjs", "");
        let resolver = ModuleResolver::new(&[], &root);
        let importers: Vec<PathBuf> = [
            "app/owned.ts",
            "app/other.ts",
            "app/types.d.ts",
            "app/plain.js",
            "lib/a.js",
            "lib/b.js",
            "lib/t.ts",
            "lib/types.d.ts",
        ]
        .iter()
        .map(|f| root.join(f))
        .collect();
        let mut sites: Vec<(&Path, ImportKind, &str)> = Vec::new();
        for importer in &importers {
            for kind in [ImportKind::Static, ImportKind::Require] {
                for specifier in [
                    "@x",
                    "./y",
                    "./z",
                    "../lib/z.js",
                    "pkg",
                    "./Z.js",
                    "./v",
                    "missing",
                ] {
                    sites.push((importer, kind, specifier));
                }
            }
        }
        let each: Vec<Resolved> = sites
            .iter()
            .map(|&(importer, kind, specifier)| resolver.resolve(importer, kind, specifier))
            .collect();
        assert_eq!(resolver.resolve_many(&sites), each);
        // The include tells the two TypeScript modules apart.
        let owned = resolver.resolve(&importers[0], ImportKind::Static, "@x");
        let other = resolver.resolve(&importers[1], ImportKind::Static, "@x");
        assert_eq!(owned, Resolved::File(root.join("app/x.ts")));
        assert_ne!(owned, other);
        // A declaration-only module: missing for JavaScript, not for TypeScript.
        let from_js = resolver.resolve(&importers[4], ImportKind::Static, "./v");
        let from_ts = resolver.resolve(&importers[6], ImportKind::Static, "./v");
        assert_eq!((from_js, from_ts), (Resolved::NotFound, Resolved::Unknown));
    }

    /// A folder known to have no tsconfig gets one: its modules resolve with it once the layout
    /// change is told.
    #[test]
    fn a_tsconfig_that_appears_governs_the_folders_under_it() {
        let (_dir, root) = temp_root();
        std::fs::create_dir_all(root.join("app/src")).expect("folder");
        std::fs::write(root.join("app/x.ts"), "").expect("write");
        let importer = root.join("app/src/a.ts");
        let mut resolver = ModuleResolver::new(&[], &root);
        assert_ne!(
            resolver.resolve(&importer, ImportKind::Static, "@x"),
            Resolved::File(root.join("app/x.ts"))
        );
        let tsconfig = root.join("app/tsconfig.json");
        std::fs::write(
            &tsconfig,
            r#"{ "compilerOptions": { "paths": { "@x": ["./x.ts"] } } }"#,
        )
        .expect("write");
        resolver.forget_layout(&tsconfig);
        assert_eq!(
            resolver.resolve(&importer, ImportKind::Static, "@x"),
            Resolved::File(root.join("app/x.ts"))
        );
    }

    /// Node's CommonJS loader tries no `.mjs` for `require('./d')`: such a site is unsure, while
    /// the same file named in full, or reached by `import`, is an edge.
    #[test]
    fn a_require_that_finds_an_es_module_only_by_probing_is_unsure() {
        let (_dir, root) = temp_root();
        std::fs::create_dir_all(root.join("d")).expect("folder");
        std::fs::write(root.join("d/index.mjs"), "").expect("write");
        std::fs::write(root.join("e.mjs"), "").expect("write");
        std::fs::write(root.join("f.js"), "").expect("write");
        std::fs::write(root.join("f.mjs"), "").expect("write");
        let importer = root.join("a.cjs");
        let resolver = ModuleResolver::new(&[], &root);
        let file = |rel: &str| Resolved::File(root.join(rel));
        let cases = [
            (ImportKind::Require, "./d", Resolved::Unknown),
            (ImportKind::Require, "./e", Resolved::Unknown),
            (ImportKind::Require, "./e.mjs", file("e.mjs")),
            (ImportKind::Require, "./f", file("f.js")),
            (ImportKind::Static, "./d/index.mjs", file("d/index.mjs")),
            (ImportKind::Dynamic, "./e", file("e.mjs")),
        ];
        for (kind, specifier, expected) in cases {
            assert_eq!(
                resolver.resolve(&importer, kind, specifier),
                expected,
                "{kind:?} {specifier}"
            );
        }
    }
}
