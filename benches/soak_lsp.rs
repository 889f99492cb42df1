//! Soak of the language server (run by hand; not a test):
//!
//!     cargo build --release
//!     cargo bench --bench soak_lsp -- <folder> [--ops 100000] [--check-every 1000] [--seed 1]
//!         [--skip-rule CODE]
//!
//! Copies the folder into a temporary folder (edits never touch the original; symbolic links,
//! such as a linked `node_modules`, are linked again), starts ONE release server on the copy and
//! sends it random operations: line edits of open documents (inserted and deleted lines, import,
//! export and `require` specifiers changed to other files, missing files, wrong letter case,
//! packages), whole-buffer reverts, open, close, save, files created, deleted and renamed on disk
//! (announced with `workspace/didChangeWatchedFiles`), rule levels changed with
//! `workspace/didChangeConfiguration`, and the requests hover, references and
//! `workspace/diagnostic`. The latency of an operation is the time until the server answers it
//! (a notification is followed by a hover at 0:0, answered once the server has applied it).
//!
//! `--skip-rule CODE` leaves that rule out of the configuration changes (it keeps its default).
//!
//! Every `--check-every` operations the open buffers are saved to disk, and the diagnostics the
//! server pushed are compared with those of a fresh server started on the same disk state and
//! rule levels. A table row per checkpoint: mismatched files (must be 0; they are printed), the
//! server's RSS (`VmRSS`), and p50/p99 of the operations in that window. Then a summary line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

#[path = "shared/rng.rs"]
mod rng;
#[path = "../tests/support/mod.rs"]
mod support;
use rng::Rng;

use support::{LspClient as Client, file_uri as uri, normalise};

const SOURCE: &[&str] = &["js", "mjs", "cjs", "jsx", "ts", "mts", "cts", "tsx"];
const RULES: &[&str] = &[
    "duplicate-module/case-mismatch",
    "duplicate-module/dual-package",
    "duplicate-module/package-copies",
    "duplicate-module/url-variants",
    "module-graph/import-cycle",
    "stale-import/cache-busting",
    "stale-import/esm-cache-delete",
    "stale-import/missing-export",
    "stale-import/missing-module",
    "stale-import/partial-invalidation",
];
const LEVELS: &[&str] = &["error", "warning", "info", "hint", "off"];
const PACKAGES: &[&str] = &[
    "react",
    "prop-types",
    "@mui/utils",
    "@mui/system",
    "clsx",
    "not-installed-soak",
];
/// Open documents at most; above, an open becomes a close.
const MAX_OPEN: usize = 24;
/// How long the pushed diagnostics may take to settle at a checkpoint.
const SETTLE: Duration = Duration::from_secs(60);

fn is_source(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| SOURCE.contains(&e))
        && !name.contains(".d.")
}

/// Copies a folder; symbolic links point at the same (absolute) target.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read folder").flatten() {
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_symlink() {
            let resolved = std::fs::canonicalize(entry.path()).expect("link target");
            std::os::unix::fs::symlink(resolved, &target).expect("link");
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Source files of the workspace (no `node_modules`, no hidden folders).
fn source_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if name != "node_modules" && !name.starts_with('.') {
                    stack.push(entry.path());
                }
            } else if kind.is_file() && is_source(&entry.path()) {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    found
}

/// `./x.js`, `../a/b.js`: `to` as written in a file of `from_dir`.
fn relative(from_dir: &Path, to: &Path) -> String {
    let from: Vec<_> = from_dir.components().collect();
    let target: Vec<_> = to.components().collect();
    let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut out = String::new();
    for _ in common..from.len() {
        out.push_str("../");
    }
    if out.is_empty() {
        out.push_str("./");
    }
    let rest: Vec<String> = target[common..]
        .iter()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    out.push_str(&rest.join("/"));
    out
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at].as_secs_f64() * 1000.0
}

type Diagnostics = BTreeMap<String, Vec<String>>;

fn pushed(client: &Client) -> Diagnostics {
    client
        .diagnostics
        .iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(uri, list)| (support::decode(uri), normalise(list)))
        .collect()
}

/// The pulled diagnostics (answered after every earlier message), then the pushed ones once they
/// agree with them (or `SETTLE` has passed): (pushed, whether they agreed).
fn settled(client: &mut Client) -> (Diagnostics, bool) {
    let report = client.request("workspace/diagnostic", json!({ "previousResultIds": [] }));
    let truth: Diagnostics = report["result"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let items = normalise(item["items"].as_array()?);
            (!items.is_empty()).then(|| {
                (
                    support::decode(item["uri"].as_str().unwrap_or_default()),
                    items,
                )
            })
        })
        .collect();
    let agreed = client.try_wait_all_diagnostics(SETTLE, |map| {
        let now: Diagnostics = map
            .iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(uri, list)| (support::decode(uri), normalise(list)))
            .collect();
        now == truth
    });
    (pushed(client), agreed)
}

/// Files whose diagnostics differ, with both sides.
fn differences(a: &Diagnostics, b: &Diagnostics) -> Vec<(String, Vec<String>, Vec<String>)> {
    let mut files: Vec<&String> = a.keys().chain(b.keys()).collect();
    files.sort();
    files.dedup();
    files
        .into_iter()
        .filter(|f| a.get(*f) != b.get(*f))
        .map(|f| {
            (
                f.clone(),
                a.get(f).cloned().unwrap_or_default(),
                b.get(f).cloned().unwrap_or_default(),
            )
        })
        .collect()
}

fn print_differences(label: &str, diffs: &[(String, Vec<String>, Vec<String>)]) {
    for (file, ours, theirs) in diffs.iter().take(10) {
        println!("  {label}: {file}");
        for item in ours.iter().filter(|i| !theirs.contains(i)).take(5) {
            println!("    only in the soaked server: {item}");
        }
        for item in theirs.iter().filter(|i| !ours.contains(i)).take(5) {
            println!("    only in the fresh server:  {item}");
        }
    }
    if diffs.len() > 10 {
        println!("  … and {} more files", diffs.len() - 10);
    }
}

fn watching_client() -> Value {
    json!({ "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } } })
}

struct Doc {
    text: String,
    version: i32,
}

/// Byte offset of the start of line `line` (lines end with `\n`).
fn line_start(text: &str, line: usize) -> usize {
    if line == 0 {
        return 0;
    }
    text.match_indices('\n')
        .nth(line - 1)
        .map_or(text.len(), |(i, _)| i + 1)
}

/// The specifier in a line: (start, end) byte offsets of its text inside the quotes.
fn specifier_in(line: &str) -> Option<(usize, usize)> {
    for key in [
        "from '",
        "from \"",
        "require('",
        "require(\"",
        "import('",
        "import '",
    ] {
        if let Some(i) = line.find(key) {
            let start = i + key.len();
            let quote = line.as_bytes()[start - 1] as char;
            let end = start + line[start..].find(quote)?;
            return Some((start, end));
        }
    }
    None
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InsertLine,
    DeleteLine,
    Specifier,
    Revert,
    Open,
    Close,
    Save,
    Create,
    Delete,
    Rename,
    Config,
    Hover,
    References,
    WorkspaceDiagnostic,
}

const WEIGHTS: &[(Kind, usize)] = &[
    (Kind::InsertLine, 20),
    (Kind::DeleteLine, 8),
    (Kind::Specifier, 16),
    (Kind::Revert, 2),
    (Kind::Open, 6),
    (Kind::Close, 4),
    (Kind::Save, 4),
    (Kind::Create, 3),
    (Kind::Delete, 2),
    (Kind::Rename, 2),
    (Kind::Config, 1),
    (Kind::Hover, 8),
    (Kind::References, 4),
    (Kind::WorkspaceDiagnostic, 1),
];

struct Soak {
    root: PathBuf,
    binary: PathBuf,
    client: Client,
    rng: Rng,
    open: BTreeMap<PathBuf, Doc>,
    /// Source files on disk.
    files: Vec<PathBuf>,
    rules: Map<String, Value>,
    /// Rules the configuration changes leave alone.
    skip_rules: Vec<String>,
    counter: usize,
    counts: BTreeMap<Kind, usize>,
}

impl Soak {
    fn fresh_name(&mut self, dir: &Path, ext: &str) -> PathBuf {
        self.counter += 1;
        dir.join(format!("soak{}.{ext}", self.counter))
    }

    /// A random specifier for a file in `dir`.
    fn specifier(&mut self, dir: &Path) -> String {
        let target = self.rng.pick(&self.files).cloned();
        match (self.rng.below(8), target) {
            (0, _) | (_, None) => (*self.rng.pick(PACKAGES).expect("packages")).to_owned(),
            (1, Some(t)) => {
                // Without its extension (resolution by extension or index).
                let rel = relative(dir, &t);
                match rel.rfind('.') {
                    Some(i) if i > 3 => rel[..i].to_owned(),
                    _ => rel,
                }
            }
            (2, Some(t)) => format!("{}x", relative(dir, &t)),
            (3, Some(t)) => relative(dir, &t).to_uppercase(),
            (4, Some(t)) => format!("{}?v={}", relative(dir, &t), self.rng.below(3)),
            (_, Some(t)) => relative(dir, &t),
        }
    }

    fn random_line(&mut self, dir: &Path) -> String {
        self.counter += 1;
        let k = self.counter;
        let spec = self.specifier(dir);
        match self.rng.below(12) {
            0 => format!("import {{ soak{k} }} from '{spec}';"),
            1 => format!("import * as soakNs{k} from '{spec}';"),
            2 => format!("export {{ default as soak{k} }} from '{spec}';"),
            3 => format!("export * from '{spec}';"),
            4 => format!("const soakReq{k} = require('{spec}');"),
            5 => format!("import '{spec}';"),
            6 => format!("const soakDyn{k} = import('{spec}');"),
            7 => format!("export const soakValue{k} = {k};"),
            8 => format!("delete require.cache[require.resolve('{spec}')];"),
            9 => "import {".to_owned(),
            10 => format!("import soakDefault{k} from '{spec}';"),
            _ => format!("// soak {k}"),
        }
    }

    fn pick_kind(&mut self) -> Kind {
        let total: usize = WEIGHTS.iter().map(|(_, w)| w).sum();
        let mut at = self.rng.below(total);
        for (kind, weight) in WEIGHTS {
            if at < *weight {
                return *kind;
            }
            at -= weight;
        }
        Kind::Hover
    }

    fn watched(&mut self, changes: Vec<(&Path, u8)>) {
        let changes: Vec<Value> = changes
            .into_iter()
            .map(|(p, kind)| json!({ "uri": uri(p), "type": kind }))
            .collect();
        self.client.notify(
            "workspace/didChangeWatchedFiles",
            json!({ "changes": changes }),
        );
    }

    fn open_doc(&mut self) -> Option<PathBuf> {
        let closed = self.closed_files();
        let path = self.rng.pick(&closed)?.clone();
        let text = std::fs::read_to_string(&path).ok()?;
        if text.contains('\r') {
            return None;
        }
        self.client.open(&path, &text);
        self.open.insert(path.clone(), Doc { text, version: 1 });
        Some(path)
    }

    /// A random open document (one is opened when none is).
    fn some_open(&mut self) -> Option<PathBuf> {
        if self.open.is_empty() {
            return self.open_doc();
        }
        let keys: Vec<PathBuf> = self.open.keys().cloned().collect();
        self.rng.pick(&keys).cloned()
    }

    /// Replaces lines `from..to` of an open document with `with` (whole lines, `\n` ended).
    fn change_lines(&mut self, path: &Path, from: usize, to: usize, with: &str) {
        let doc = self.open.get_mut(path).expect("open");
        let (a, b) = (line_start(&doc.text, from), line_start(&doc.text, to));
        doc.text.replace_range(a..b, with);
        doc.version += 1;
        let version = doc.version;
        let range = json!({ "start": { "line": from, "character": 0 }, "end": { "line": to, "character": 0 } });
        self.client
            .change(path, version, json!([{ "range": range, "text": with }]));
    }

    /// Runs one operation; returns whether it was a notification (then a barrier follows).
    fn step(&mut self, kind: Kind) -> bool {
        *self.counts.entry(kind).or_default() += 1;
        match kind {
            Kind::InsertLine => {
                let Some(path) = self.some_open() else {
                    return false;
                };
                let dir = path.parent().expect("folder").to_path_buf();
                let lines = self.open[&path].text.matches('\n').count();
                let at = self.rng.below(lines + 1);
                let line = format!("{}\n", self.random_line(&dir));
                self.change_lines(&path, at, at, &line);
                true
            }
            Kind::DeleteLine => {
                let Some(path) = self.some_open() else {
                    return false;
                };
                let lines = self.open[&path].text.matches('\n').count();
                if lines == 0 {
                    return false;
                }
                let at = self.rng.below(lines);
                self.change_lines(&path, at, at + 1, "");
                true
            }
            Kind::Specifier => {
                let Some(path) = self.some_open() else {
                    return false;
                };
                let dir = path.parent().expect("folder").to_path_buf();
                let text = &self.open[&path].text;
                let terminated = text.matches('\n').count();
                let candidates: Vec<(usize, String, (usize, usize))> = text
                    .split('\n')
                    .take(terminated)
                    .enumerate()
                    .filter_map(|(i, l)| specifier_in(l).map(|s| (i, l.to_owned(), s)))
                    .collect();
                let Some((at, line, (a, b))) = self.rng.pick(&candidates).cloned() else {
                    // No specifier: add an import instead.
                    let line = format!("{}\n", self.random_line(&dir));
                    self.change_lines(&path, 0, 0, &line);
                    return true;
                };
                let spec = self.specifier(&dir);
                let new = format!("{}{spec}{}\n", &line[..a], &line[b..]);
                self.change_lines(&path, at, at + 1, &new);
                true
            }
            Kind::Revert => {
                let Some(path) = self.some_open() else {
                    return false;
                };
                let Ok(text) = std::fs::read_to_string(&path) else {
                    return false;
                };
                let doc = self.open.get_mut(&path).expect("open");
                doc.text = text.clone();
                doc.version += 1;
                let version = doc.version;
                self.client
                    .change(&path, version, json!([{ "text": text }]));
                true
            }
            Kind::Open => {
                if self.open.len() >= MAX_OPEN {
                    return self.step(Kind::Close);
                }
                self.open_doc().is_some()
            }
            Kind::Close => {
                let keys: Vec<PathBuf> = self.open.keys().cloned().collect();
                let Some(path) = self.rng.pick(&keys).cloned() else {
                    return false;
                };
                self.open.remove(&path);
                self.client.notify(
                    "textDocument/didClose",
                    json!({ "textDocument": { "uri": uri(&path) } }),
                );
                true
            }
            Kind::Save => {
                let keys: Vec<PathBuf> = self.open.keys().cloned().collect();
                let Some(path) = self.rng.pick(&keys).cloned() else {
                    return false;
                };
                self.save(&path);
                true
            }
            Kind::Create => {
                let Some(near) = self.rng.pick(&self.files).cloned() else {
                    return false;
                };
                let dir = near.parent().expect("folder").to_path_buf();
                let ext = *self.rng.pick(&["js", "mjs", "cjs"]).expect("exts");
                let path = self.fresh_name(&dir, ext);
                let n = 1 + self.rng.below(5);
                let text: String = (0..n)
                    .map(|_| format!("{}\n", self.random_line(&dir)))
                    .collect();
                std::fs::write(&path, text).expect("create file");
                self.files.push(path.clone());
                self.watched(vec![(&path, 1)]);
                true
            }
            Kind::Delete => {
                let Some(path) = self.closed_file() else {
                    return false;
                };
                std::fs::remove_file(&path).expect("delete file");
                self.files.retain(|f| *f != path);
                self.watched(vec![(&path, 3)]);
                true
            }
            Kind::Rename => {
                let Some(path) = self.closed_file() else {
                    return false;
                };
                let Some(near) = self.rng.pick(&self.files).cloned() else {
                    return false;
                };
                let dir = near.parent().expect("folder").to_path_buf();
                let ext = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("js")
                    .to_owned();
                let to = self.fresh_name(&dir, &ext);
                std::fs::rename(&path, &to).expect("rename file");
                self.files.retain(|f| *f != path);
                self.files.push(to.clone());
                self.watched(vec![(&path, 3), (&to, 1)]);
                true
            }
            Kind::Config => {
                for _ in 0..1 + self.rng.below(3) {
                    let rule = *self.rng.pick(RULES).expect("rules");
                    if self.skip_rules.iter().any(|r| r == rule) {
                        continue;
                    }
                    let level = *self.rng.pick(LEVELS).expect("levels");
                    self.rules.insert(rule.to_owned(), json!(level));
                }
                let settings = json!({ "modgraph": { "rules": self.rules.clone() } });
                self.client.notify(
                    "workspace/didChangeConfiguration",
                    json!({ "settings": settings }),
                );
                true
            }
            Kind::Hover => {
                let Some(path) = self.rng.pick(&self.files).cloned() else {
                    return false;
                };
                let text = match self.open.get(&path) {
                    Some(doc) => doc.text.clone(),
                    None => std::fs::read_to_string(&path).unwrap_or_default(),
                };
                let position = text
                    .split('\n')
                    .enumerate()
                    .filter_map(|(i, l)| specifier_in(l).map(|(a, _)| (i, l, a)))
                    .find(|(_, l, a)| l[..*a].is_ascii())
                    .map_or(
                        json!({ "line": 0, "character": 0 }),
                        |(i, _, a)| json!({ "line": i, "character": a + 1 }),
                    );
                self.client.request(
                    "textDocument/hover",
                    json!({ "textDocument": { "uri": uri(&path) }, "position": position }),
                );
                false
            }
            Kind::References => {
                let Some(path) = self.rng.pick(&self.files).cloned() else {
                    return false;
                };
                self.client.request(
                    "textDocument/references",
                    json!({ "textDocument": { "uri": uri(&path) }, "position": { "line": 0, "character": 0 }, "context": { "includeDeclaration": false } }),
                );
                false
            }
            Kind::WorkspaceDiagnostic => {
                self.client
                    .request("workspace/diagnostic", json!({ "previousResultIds": [] }));
                false
            }
        }
    }

    /// The files on disk that are not open.
    fn closed_files(&self) -> Vec<PathBuf> {
        self.files
            .iter()
            .filter(|f| !self.open.contains_key(*f))
            .cloned()
            .collect()
    }

    /// A file on disk that is not open (created ones first, half the time).
    fn closed_file(&mut self) -> Option<PathBuf> {
        let closed = self.closed_files();
        let created: Vec<PathBuf> = closed
            .iter()
            .filter(|f| {
                f.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("soak"))
            })
            .cloned()
            .collect();
        if !created.is_empty() && self.rng.below(2) == 0 {
            return self.rng.pick(&created).cloned();
        }
        self.rng.pick(&closed).cloned()
    }

    fn save(&mut self, path: &Path) {
        let text = self.open[path].text.clone();
        if std::fs::read_to_string(path).ok().as_deref() == Some(text.as_str()) {
            return;
        }
        std::fs::write(path, &text).expect("save");
        self.client.notify(
            "textDocument/didSave",
            json!({ "textDocument": { "uri": uri(path) } }),
        );
        self.watched(vec![(path, 2)]);
    }

    /// A request answered once every earlier message is applied.
    fn barrier(&mut self) {
        let path = self
            .files
            .first()
            .cloned()
            .unwrap_or_else(|| self.root.clone());
        self.client.request(
            "textDocument/hover",
            json!({ "textDocument": { "uri": uri(&path) }, "position": { "line": 0, "character": 0 } }),
        );
    }

    /// Saves the open buffers, then compares with a fresh server: (mismatched files, whether
    /// the pushed diagnostics agreed with the pulled ones, files with diagnostics).
    fn check(&mut self) -> (usize, bool, usize) {
        let keys: Vec<PathBuf> = self.open.keys().cloned().collect();
        for path in keys {
            self.save(&path);
        }
        let (ours, agreed) = settled(&mut self.client);
        let mut fresh = Client::start_program(&self.binary, &["lsp"], &self.root);
        fresh.initialize(
            &self.root,
            watching_client(),
            Some(json!({ "rules": self.rules.clone() })),
        );
        let (theirs, fresh_agreed) = settled(&mut fresh);
        fresh.shutdown();
        let diffs = differences(&ours, &theirs);
        print_differences("differs from a fresh start", &diffs);
        if !agreed {
            println!("  the soaked server's pushed diagnostics never matched its pulled ones");
        }
        if !fresh_agreed {
            println!("  the fresh server's pushed diagnostics never matched its pulled ones");
        }
        (diffs.len(), agreed && fresh_agreed, ours.len())
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let number = |name: &str, default: usize| -> usize {
        flag(name).map_or(default, |v| {
            v.parse().unwrap_or_else(|_| {
                eprintln!("{name} wants a number, got `{v}`");
                std::process::exit(2)
            })
        })
    };
    let Some(folder) = args.first().filter(|a| !a.starts_with("--")) else {
        eprintln!(
            "usage: cargo bench --bench soak_lsp -- <folder> [--ops N] [--check-every N] [--seed N]"
        );
        std::process::exit(2);
    };
    let ops = number("--ops", 100_000);
    let check_every = number("--check-every", 1000).max(1);
    let seed = number("--seed", 1) as u64;
    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/modgraph");
    if !binary.exists() {
        eprintln!("build the release binary first: cargo build --release");
        std::process::exit(2);
    }
    let temp = tempfile::tempdir().expect("temp dir");
    let root = std::fs::canonicalize(temp.path())
        .expect("canonical temp dir")
        .join("w");
    copy_tree(Path::new(folder), &root);
    let files = source_files(&root);
    println!(
        "soak: {} copied to {} ({} source files); {ops} operations, check every {check_every}, seed {seed}",
        folder,
        root.display(),
        files.len()
    );

    let mut client = Client::start_program(&binary, &["lsp"], &root);
    let started = Instant::now();
    client.initialize(&root, watching_client(), None);
    let mut soak = Soak {
        root,
        binary,
        client,
        rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).max(1)),
        open: BTreeMap::new(),
        files,
        rules: Map::new(),
        skip_rules: args
            .windows(2)
            .filter(|w| w[0] == "--skip-rule")
            .map(|w| w[1].clone())
            .collect(),
        counter: 0,
        counts: BTreeMap::new(),
    };
    soak.barrier();
    println!(
        "initialized → first diagnostics: {:.0} ms, RSS {:.0} MiB",
        started.elapsed().as_secs_f64() * 1000.0,
        soak.client.rss_mib()
    );
    println!(
        "{:>8} | {:>8} | {:>8} | {:>8} | {:>8} | {:>10} | {:>5} | {:>6} | {:>6} | {:>7}",
        "ops",
        "p50 ms",
        "p99 ms",
        "max ms",
        "RSS MiB",
        "mismatches",
        "files",
        "diag.",
        "open",
        "time s"
    );
    let mut window: Vec<Duration> = Vec::new();
    let mut by_kind: BTreeMap<Kind, Vec<Duration>> = BTreeMap::new();
    let mut rows: Vec<(f64, f64, f64)> = Vec::new();
    let mut mismatches = 0usize;
    let mut disagreements = 0usize;
    let run_started = Instant::now();
    let mut done = 0usize;
    while done < ops {
        let kind = soak.pick_kind();
        let at = Instant::now();
        if soak.step(kind) {
            soak.barrier();
        }
        let took = at.elapsed();
        // The client keeps every message it saw; a soak would run out of memory.
        soak.client.notifications.clear();
        soak.client.messages.clear();
        window.push(took);
        by_kind.entry(kind).or_default().push(took);
        done += 1;
        if done.is_multiple_of(check_every) || done == ops {
            window.sort();
            let (p50, p99, max) = (
                percentile(&window, 0.5),
                percentile(&window, 0.99),
                percentile(&window, 1.0),
            );
            let rss = soak.client.rss_mib();
            let (bad, agreed, with_diagnostics) = soak.check();
            mismatches += bad;
            disagreements += usize::from(!agreed);
            println!(
                "{done:>8} | {p50:>8.2} | {p99:>8.2} | {max:>8.1} | {rss:>8.1} | {bad:>10} | {:>5} | {with_diagnostics:>6} | {:>6} | {:>7.0}",
                soak.files.len(),
                soak.open.len(),
                run_started.elapsed().as_secs_f64()
            );
            rows.push((rss, p50, p99));
            window.clear();
        }
    }
    let counts: Vec<String> = soak
        .counts
        .iter()
        .map(|(k, n)| format!("{k:?} {n}"))
        .collect();
    println!("operations: {}", counts.join(", "));
    for (kind, times) in &mut by_kind {
        times.sort();
        println!(
            "  {kind:?}: p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
            percentile(times, 0.5),
            percentile(times, 0.99),
            percentile(times, 1.0)
        );
    }
    let (first, last) = (rows[0], rows[rows.len() - 1]);
    println!(
        "soak summary: {done} ops in {:.0} s, {mismatches} mismatches, {disagreements} push/pull disagreements; RSS {:.0} → {:.0} MiB (peak {:.0}); p50 {:.2} → {:.2} ms, p99 {:.2} → {:.2} ms (first → last window)",
        run_started.elapsed().as_secs_f64(),
        first.0,
        last.0,
        soak.client.peak_rss_mib(),
        first.1,
        last.1,
        first.2,
        last.2
    );
    let Soak { client, .. } = soak;
    client.shutdown();
    if mismatches > 0 || disagreements > 0 {
        std::process::exit(1);
    }
}
