//! Reading, parsing and resolving modules in parallel. Produces owned data that the single
//! owner of the graph then interns.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use oxc_allocator::Allocator;
use serde::Deserialize;

use super::progress::LoadProgress;
use crate::extract::{self, ModuleFacts};
use crate::graph::{FormatCertainty, ModuleFormat};
use crate::resolve::{ModuleResolver, Resolved, is_declaration_file};

/// Files larger than this are not parsed (generated bundles); a note says so.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// A worker's buffer for file text is kept up to this size between files; a larger one is
/// freed after its file.
const KEPT_BUFFER_BYTES: usize = 1024 * 1024;

/// What a worker reuses from file to file: the parser's arena and the buffer files are read
/// into, whose pages are then faulted in once per worker rather than once per file.
#[derive(Default)]
struct Scratch {
    allocator: Allocator,
    buffer: Vec<u8>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// A module read and parsed, its sites not resolved yet.
pub struct ParsedModule {
    pub path: PathBuf,
    pub format: ModuleFormat,
    pub certainty: FormatCertainty,
    pub facts: ModuleFacts,
}

impl ParsedModule {
    pub fn resolve(self, resolver: &ModuleResolver) -> LoadedModule {
        let resolved = resolve_sites(&self.path, &self.facts, resolver);
        LoadedModule {
            path: self.path,
            format: self.format,
            certainty: self.certainty,
            facts: self.facts,
            resolved,
        }
    }
}

/// A module read, parsed and resolved, not yet in the graph.
pub struct LoadedModule {
    pub path: PathBuf,
    pub format: ModuleFormat,
    pub certainty: FormatCertainty,
    pub facts: ModuleFacts,
    /// One per `facts.imports` entry.
    pub resolved: Vec<Resolved>,
}

#[derive(Deserialize)]
struct PackageTypeField {
    #[serde(rename = "type")]
    kind: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PackageType {
    Module,
    CommonJs,
    Unset,
}

/// Text of open editor buffers, which override the disk.
/// Keyed by path bytes: hashing a `Path` walks its components, and this is asked per file.
pub type Overlays = DashMap<Box<[u8]>, std::sync::Arc<str>, rustc_hash::FxBuildHasher>;

/// Caches the loader keeps between batches; cleared when `package.json` files change.
#[derive(Default)]
pub struct LoaderCaches {
    /// Whether declaration files are read and parsed (see `WorkspaceOptions`).
    parse_declarations: bool,
    /// Keyed by the folder's path bytes (hashing a `Path` walks its components).
    package_types: DashMap<Box<[u8]>, PackageType, rustc_hash::FxBuildHasher>,
    /// Notes about files that could not be used (path → note), reported once.
    pub notes: DashMap<PathBuf, String>,
}

impl LoaderCaches {
    pub fn new(parse_declarations: bool) -> Self {
        Self {
            parse_declarations,
            ..Self::default()
        }
    }

    pub fn clear_package_types(&self) {
        self.package_types.clear();
    }

    /// `"type"` of the nearest `package.json` above `dir`.
    fn package_type(&self, dir: &Path) -> PackageType {
        if let Some(t) = self.package_types.get(dir.as_os_str().as_encoded_bytes()) {
            return *t;
        }
        let manifest = dir.join("package.json");
        let found = match std::fs::read(&manifest) {
            Ok(bytes) => match serde_json::from_slice::<PackageTypeField>(&bytes) {
                Ok(field) => Some(match field.kind.as_ref().and_then(|v| v.as_str()) {
                    Some("module") => PackageType::Module,
                    Some("commonjs") => PackageType::CommonJs,
                    _ => PackageType::Unset,
                }),
                Err(e) => {
                    self.notes.insert(
                        manifest.clone(),
                        format!("invalid package.json, ignored: {e}"),
                    );
                    None
                }
            },
            Err(_) => None,
        };
        let t = match found {
            Some(t) => t,
            None => dir
                .parent()
                .map_or(PackageType::Unset, |parent| self.package_type(parent)),
        };
        self.package_types
            .insert(dir.as_os_str().as_encoded_bytes().into(), t);
        t
    }

    /// Node's format for a module (extension, then `package.json` `"type"`, then syntax).
    pub fn format_of(&self, path: &Path, facts: &ModuleFacts) -> (ModuleFormat, FormatCertainty) {
        use FormatCertainty::*;
        if is_declaration_file(path) {
            return (ModuleFormat::Declaration, Certain);
        }
        let ext = crate::resolve::file_extension(path).unwrap_or_default();
        match ext {
            "mjs" | "mts" => (ModuleFormat::Esm, Certain),
            "cjs" | "cts" => (ModuleFormat::Cjs, Certain),
            "json" => (ModuleFormat::Json, Certain),
            "js" | "jsx" | "ts" | "tsx" => {
                match path
                    .parent()
                    .map_or(PackageType::Unset, |d| self.package_type(d))
                {
                    PackageType::Module => (ModuleFormat::Esm, Certain),
                    PackageType::CommonJs => (ModuleFormat::Cjs, Certain),
                    PackageType::Unset if facts.has_module_syntax && !facts.mixes_cjs_exports => {
                        (ModuleFormat::Esm, Detected)
                    }
                    PackageType::Unset => (ModuleFormat::Cjs, Detected),
                }
            }
            _ => (ModuleFormat::Other, Certain),
        }
    }
}

/// Module text: read from disk into a worker's buffer, or an editor buffer (shared).
enum Text<'a> {
    Disk(&'a str),
    Buffer(std::sync::Arc<str>),
}

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Text::Disk(s) => s,
            Text::Buffer(s) => s,
        }
    }
}

/// Why a file's text is not there.
enum Unread {
    /// The file is gone (deleted, or a folder on its path became a file) since it was listed.
    Gone,
    /// A note for the user.
    Note(String),
}

/// Reads the text of `path` (overlay first), from disk into `buffer`.
fn read_text<'a>(
    path: &Path,
    overlays: &Overlays,
    buffer: &'a mut Vec<u8>,
) -> Result<Text<'a>, Unread> {
    use std::io::ErrorKind;
    if let Some(text) = overlays.get(path.as_os_str().as_encoded_bytes()) {
        return Ok(Text::Buffer(text.clone()));
    }
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory => Unread::Gone,
        _ => Unread::Note(format!("cannot read: {e}")),
    })?;
    read_file(file, buffer).map(Text::Disk)
}

fn read_file(file: std::fs::File, bytes: &mut Vec<u8>) -> Result<&str, Unread> {
    use std::io::Read;
    let len = file
        .metadata()
        .map_err(|e| Unread::Note(format!("cannot read: {e}")))?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(Unread::Note(format!(
            "skipped: {len} bytes is over the {MAX_FILE_BYTES} byte limit"
        )));
    }
    // The length the file had when opened: reading to the end would cost one more call per
    // file, and a file written meanwhile changes again (a watcher hears of it) anyway.
    bytes.clear();
    bytes.reserve(len as usize);
    file.take(len)
        .read_to_end(bytes)
        .map_err(|e| Unread::Note(format!("cannot read: {e}")))?;
    // SIMD search: `contains` on bytes goes one word at a time.
    if memchr::memchr(0, bytes).is_some() {
        return Err(Unread::Note("skipped: binary content".into()));
    }
    // SIMD validation: about twice as fast as the standard library's on source text.
    simdutf8::basic::from_utf8(bytes).map_err(|_| Unread::Note("skipped: not valid UTF-8".into()))
}

/// Whether a module is parsed for its imports at all (JSON, add-ons and others are leaves).
fn is_parsed(path: &Path) -> bool {
    crate::workspace::discover::is_source_file(path)
}

/// Reads, parses and resolves one module; `None` when the file is gone.
pub fn load_one(
    path: &Path,
    resolver: &ModuleResolver,
    caches: &LoaderCaches,
    overlays: &Overlays,
) -> Option<LoadedModule> {
    let (facts, format, certainty) = parse_one(path, caches, overlays)?;
    let parsed = ParsedModule {
        path: path.to_path_buf(),
        format,
        certainty,
        facts,
    };
    Some(parsed.resolve(resolver))
}

/// Reads and parses one module; its sites are not resolved yet. `None` when the file is gone
/// since it was listed: it is left out, as if it had not been found.
fn parse_one(
    path: &Path,
    caches: &LoaderCaches,
    overlays: &Overlays,
) -> Option<(ModuleFacts, ModuleFormat, FormatCertainty)> {
    let facts = if is_parsed(path) && (caches.parse_declarations || !is_declaration_file(path)) {
        let read = SCRATCH.with(|scratch| {
            let Scratch { allocator, buffer } = &mut *scratch.borrow_mut();
            let facts = read_text(path, overlays, buffer)
                .map(|text| extract::extract(path, &text, allocator));
            if buffer.capacity() > KEPT_BUFFER_BYTES {
                *buffer = Vec::new();
            }
            facts
        });
        match read {
            Ok(facts) => facts,
            Err(Unread::Gone) => return None,
            Err(Unread::Note(note)) => {
                caches.notes.insert(path.to_path_buf(), note);
                ModuleFacts::unparsed()
            }
        }
    } else {
        ModuleFacts::unparsed()
    };
    let (format, certainty) = caches.format_of(path, &facts);
    Some((facts, format, certainty))
}

pub fn resolve_sites(path: &Path, facts: &ModuleFacts, resolver: &ModuleResolver) -> Vec<Resolved> {
    if facts.imports.is_empty() {
        return Vec::new();
    }
    let importer = resolver.importer(path);
    facts
        .imports
        .iter()
        .map(|site| resolver.resolve_in(&importer, site.kind, &site.specifier))
        .collect()
}

/// Files a loading worker takes on at once: few enough that a worker is soon free to put
/// modules in the graph, many enough that it seldom has to.
pub const RUN_FILES: usize = 32;

/// Where loading time goes. Reading, parsing and resolving overlap on every core, so their
/// figures are thread time summed over the workers; `load` is the wall time of all of it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadStats {
    pub walk: Duration,
    /// Wall time from the first file read to the last module in the graph.
    pub load: Duration,
    /// Reading and parsing, summed over the workers.
    pub read_parse: Duration,
    /// Resolving, summed over the workers.
    pub resolve: Duration,
    /// Interning and edge building, by one worker at a time while the others go on.
    pub graph: Duration,
    pub parsed_files: usize,
}

/// Thread time of the workers, in nanoseconds, added up as they finish files.
#[derive(Debug, Default)]
pub struct WorkerTimes {
    read_parse: AtomicU64,
    resolve: AtomicU64,
}

impl WorkerTimes {
    pub fn add_to(&self, stats: &mut LoadStats) {
        stats.read_parse += Duration::from_nanos(self.read_parse.load(Ordering::Relaxed));
        stats.resolve += Duration::from_nanos(self.resolve.load(Ordering::Relaxed));
    }
}

/// What a loading worker reads from; shared by every worker.
#[derive(Clone, Copy)]
pub struct LoadContext<'a> {
    pub resolver: &'a ModuleResolver,
    pub caches: &'a LoaderCaches,
    pub overlays: &'a Overlays,
    pub progress: &'a LoadProgress,
    pub times: &'a WorkerTimes,
}

/// Reads, parses and resolves one module in a loading worker; `None` when the file is gone or
/// the load is cancelled. Counts the file into `progress`.
pub fn load_task(path: &Path, cx: LoadContext<'_>) -> Option<LoadedModule> {
    if cx.progress.skip() {
        return None;
    }
    let started = Instant::now();
    let parsed = parse_one(path, cx.caches, cx.overlays);
    let parsed_at = Instant::now();
    cx.progress.file_done();
    let (facts, format, certainty) = parsed?;
    if cx.progress.skip() {
        return None;
    }
    let resolve_started = Instant::now();
    let loaded = ParsedModule {
        path: path.to_path_buf(),
        format,
        certainty,
        facts,
    }
    .resolve(cx.resolver);
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    cx.times
        .read_parse
        .fetch_add(nanos(parsed_at - started), Ordering::Relaxed);
    cx.times
        .resolve
        .fetch_add(nanos(resolve_started.elapsed()), Ordering::Relaxed);
    Some(loaded)
}
