//! The language server's mutable state, owned by the event loop alone: the workspace, the open
//! documents, and what was last published. Events are applied in arrival order; after each
//! burst the diagnostics are recomputed and only files whose diagnostics changed are published.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use tower_lsp_server::ls_types::{
    CodeAction, CodeActionKind, Diagnostic, FileChangeType, FileEvent, Range,
    TextDocumentContentChangeEvent, TextEdit, Uri, WorkspaceEdit,
};

use super::convert::{self, Encoding};
use super::progress::Progress;
use crate::config::Config;
use crate::graph::FileId;
use crate::line_index::LineIndex;
use crate::runtime::facts::{AttachedRuntime, RuntimeFacts};
use crate::runtime::{LoadedModule, ReloadParams, ReloadResult};
use crate::workspace::watch::FolderWatcher;
use crate::workspace::{FileChange, Workspace, WorkspaceOptions};

/// Something that happened, in the order the client said it.
#[derive(Debug)]
pub enum Event {
    /// Open the workspace (after `initialized`).
    Index,
    Open {
        uri: Uri,
        text: String,
        version: i32,
    },
    Change {
        uri: Uri,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
    },
    Close {
        uri: Uri,
    },
    Save {
        uri: Uri,
    },
    /// `workspace/didChangeWatchedFiles`.
    Watched(Vec<FileEvent>),
    /// A burst seen by the server's own file watcher (clients that cannot watch).
    Disk(Vec<FileChange>),
    /// The file watcher lost track (too many changes at once): index everything again.
    Rescan,
    /// `workspace/didCreateFiles`, `didDeleteFiles`, `didRenameFiles` (old, new).
    Created(Vec<Uri>),
    Deleted(Vec<Uri>),
    Renamed(Vec<(Uri, Uri)>),
    /// New settings (the same keys as `modgraph.json`).
    Configuration(serde_json::Value),
    /// `workspace/didChangeWorkspaceFolders`: folders added and removed.
    Folders {
        added: Vec<Uri>,
        removed: Vec<Uri>,
    },
    /// Attached to a Node process running the agent; what it has loaded so far.
    RuntimeAttached {
        pid: u32,
        label: String,
        modules: Vec<LoadedModule>,
    },
    /// The process loaded (or reloaded) modules.
    RuntimeModules {
        pid: u32,
        modules: Vec<LoadedModule>,
    },
    /// A reload finished in the process (asked by us or by another client).
    RuntimeReloaded {
        pid: u32,
        result: Box<ReloadResult>,
    },
    /// The process exited or closed the connection.
    RuntimeDetached {
        pid: u32,
    },
    /// A question answered after every earlier event is applied (pull diagnostics, hover, …).
    Query(Query),
}

/// A closure that reads the session and returns how to deliver its answer. Delivery waits until
/// everything published before the question has been sent, so answers never overtake them.
pub struct Query(pub Box<dyn FnOnce(&Session) -> Deliver + Send>);

/// Sends a computed answer to the waiting handler.
pub type Deliver = Box<dyn FnOnce() + Send>;

/// What the loop sends, in this order.
pub enum Output {
    Publish(Publish),
    Answer(Deliver),
    /// A message for the user's log (`window/logMessage`): only events a user cares about.
    Log {
        error: bool,
        message: String,
    },
    /// Pull mode: diagnostics changed, the client should ask again
    /// (`workspace/diagnostic/refresh`).
    Refresh,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Query")
    }
}

/// Diagnostics to send for one file.
#[derive(Debug)]
pub struct Publish {
    pub uri: Uri,
    /// Shared with what the session keeps as published.
    pub diagnostics: Arc<[Diagnostic]>,
    pub version: Option<i32>,
}

/// Quick fixes of the published diagnostics, for `textDocument/codeAction`.
#[derive(Debug, Default)]
pub struct FixSnapshot {
    /// Keyed by path: clients differ in how they escape characters in URIs.
    pub by_path: FxHashMap<PathBuf, FileFixes>,
}

/// One file's quick fixes, as code actions once asked for: a change can give hundreds of files
/// a fix that nobody asks for.
#[derive(Debug, Clone)]
pub struct FileFixes {
    uri: Uri,
    diagnostics: Arc<[Diagnostic]>,
    fixes: Arc<[QuickFix]>,
}

/// A quick fix of one published diagnostic.
#[derive(Debug)]
struct QuickFix {
    /// Index into the file's published diagnostics.
    diagnostic: usize,
    action: FixAction,
}

#[derive(Debug)]
enum FixAction {
    /// Edits of the diagnostic's own file.
    Edit { title: String, edits: Vec<TextEdit> },
    /// Reload the outdated subgraph in the attached processes.
    Reload,
}

impl FileFixes {
    /// The code actions of the diagnostics that `wanted` overlaps.
    pub fn actions_in(&self, wanted: Range) -> Vec<CodeAction> {
        let overlaps = |r: &Range| !(r.end < wanted.start || wanted.end < r.start);
        self.fixes
            .iter()
            .filter_map(|fix| {
                let diagnostic = self.diagnostics.get(fix.diagnostic)?;
                overlaps(&diagnostic.range).then(|| match &fix.action {
                    FixAction::Edit { title, edits } => {
                        let mut changes = std::collections::HashMap::new();
                        changes.insert(self.uri.clone(), edits.clone());
                        CodeAction {
                            title: title.clone(),
                            kind: Some(CodeActionKind::QUICKFIX),
                            diagnostics: Some(vec![diagnostic.clone()]),
                            edit: Some(WorkspaceEdit {
                                changes: Some(changes),
                                ..WorkspaceEdit::default()
                            }),
                            is_preferred: Some(true),
                            ..CodeAction::default()
                        }
                    }
                    FixAction::Reload => reload_action(diagnostic.clone()),
                })
            })
            .collect()
    }
}

struct Document {
    text: String,
    version: i32,
    /// The URI as the client wrote it: diagnostics for the document are published under it.
    uri: Uri,
}

pub struct Session {
    roots: Vec<PathBuf>,
    config: Option<Config>,
    encoding: Encoding,
    workspace: Option<Workspace>,
    documents: FxHashMap<PathBuf, Document>,
    /// Current diagnostics of every file that has some.
    published: FxHashMap<PathBuf, Arc<[Diagnostic]>>,
    /// Publish on change (push) or only answer requests (pull).
    push: bool,
    /// Something changed since diagnostics were last computed.
    dirty: bool,
    /// Messages for the user's log, sent with the next outputs.
    log: Vec<(bool, String)>,
    /// Texts of files on disk that diagnostics point into, until they change. By graph file
    /// (as the maps below): a `Path` key hashes component by component, and these are asked
    /// once per file per change. All three start over with a new workspace.
    disk_texts: FxHashMap<FileId, DiskText>,
    /// URIs of files diagnostics were converted for (making one costs more than keeping it).
    uris: FxHashMap<FileId, Uri>,
    /// What the next diagnostics run must redo.
    pending: crate::rules::PendingChanges,
    /// Files whose text may have changed since the last run (positions must be redone).
    touched: FxHashSet<PathBuf>,
    rule_cache: crate::rules::RuleCache,
    /// Per file: the diagnostics last converted, their LSP form and quick fixes.
    converted: FxHashMap<FileId, Converted>,
    progress: Progress,
    /// The server's own watcher of the workspace folders, when the client cannot watch.
    watcher: Option<FolderWatcher>,
    /// What the attached Node processes hold.
    runtimes: RuntimeFacts,
    /// Attached processes reported something since the last diagnostics run.
    runtimes_changed: bool,
    /// Content hash of loaded files as the editor sees them (dropped when a file is touched).
    content_hashes: FxHashMap<PathBuf, Option<String>>,
}

/// One file's diagnostics in both forms, kept to skip converting them again.
struct Converted {
    source: Vec<crate::diagnostic::Diagnostic>,
    /// Files the diagnostics mention (their own file and related locations).
    mentions: Vec<FileId>,
    uri: Uri,
    diagnostics: Arc<[Diagnostic]>,
    fixes: Arc<[QuickFix]>,
}

/// A file's text on disk, with its line starts.
struct DiskText {
    text: Arc<str>,
    line_starts: Arc<[u32]>,
}

impl Session {
    pub fn new(
        roots: Vec<PathBuf>,
        config: Option<Config>,
        encoding: Encoding,
        push: bool,
        progress: Progress,
        watcher: Option<FolderWatcher>,
    ) -> Self {
        Self {
            roots,
            config,
            encoding,
            workspace: None,
            documents: FxHashMap::default(),
            published: FxHashMap::default(),
            push,
            dirty: false,
            log: Vec::new(),
            disk_texts: FxHashMap::default(),
            uris: FxHashMap::default(),
            pending: crate::rules::PendingChanges::default(),
            touched: FxHashSet::default(),
            rule_cache: crate::rules::RuleCache::default(),
            converted: FxHashMap::default(),
            progress,
            watcher,
            runtimes: RuntimeFacts::default(),
            runtimes_changed: false,
            content_hashes: FxHashMap::default(),
        }
    }

    pub fn workspace(&self) -> Option<&Workspace> {
        self.workspace.as_ref()
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Current diagnostics of every file that has some.
    pub fn diagnostics(&self) -> &FxHashMap<PathBuf, Arc<[Diagnostic]>> {
        &self.published
    }

    pub fn version_of(&self, path: &Path) -> Option<i32> {
        self.documents.get(path).map(|d| d.version)
    }

    /// Applies a burst of events in order; returns what to send (publishes and answers, in
    /// order) and the new quick-fix snapshot. Queries see every event queued before them.
    pub fn handle(&mut self, events: Vec<Event>) -> (Vec<Output>, Option<Arc<FixSnapshot>>) {
        let mut outputs = Vec::new();
        let mut snapshot = None;
        for event in events {
            match event {
                Event::Query(Query(answer)) => {
                    outputs.extend(
                        self.log
                            .drain(..)
                            .map(|(error, message)| Output::Log { error, message }),
                    );
                    self.refresh(&mut outputs, &mut snapshot);
                    outputs.push(Output::Answer(answer(self)));
                }
                event => {
                    self.apply(event);
                    self.dirty = true;
                }
            }
        }
        // Log lines first: they say what the publishes that follow come from.
        outputs.extend(
            self.log
                .drain(..)
                .map(|(error, message)| Output::Log { error, message }),
        );
        self.refresh(&mut outputs, &mut snapshot);
        (outputs, snapshot)
    }

    fn refresh(&mut self, outputs: &mut Vec<Output>, snapshot: &mut Option<Arc<FixSnapshot>>) {
        if !self.dirty || self.workspace.is_none() {
            return;
        }
        self.dirty = false;
        let (new, fixes) = self.publish();
        if self.push {
            outputs.extend(new.into_iter().map(Output::Publish));
        } else if !new.is_empty() {
            outputs.push(Output::Refresh);
        }
        *snapshot = fixes;
    }

    /// The text of a file as the editor sees it (open buffer, else disk).
    pub fn text_of(&self, path: &Path) -> Option<String> {
        match self.documents.get(path) {
            Some(doc) => Some(doc.text.clone()),
            None => std::fs::read_to_string(path).ok(),
        }
    }

    /// Indexes the workspace folders from scratch, with progress the client can cancel.
    fn open_workspace(&mut self) {
        // Watch first, so that changes made while indexing are applied afterwards.
        self.watch_roots();
        let options = WorkspaceOptions {
            declaration_files: false,
            ..Default::default()
        };
        let task = self.progress.begin("Indexing");
        let started = std::time::Instant::now();
        let workspace = match &self.config {
            // Settings from the client take the place of `modgraph.json`.
            Some(config) => {
                let roots: Vec<PathBuf> = self
                    .roots
                    .iter()
                    .filter_map(|r| std::fs::canonicalize(r).ok())
                    .collect();
                Ok(Workspace::with_options_progress(
                    roots,
                    config.clone(),
                    options,
                    task.load.clone(),
                ))
            }
            None => Workspace::open_with_progress(&self.roots, options, task.load.clone()),
        };
        match workspace {
            Ok(mut workspace) => {
                let files = workspace.graph().workspace_modules().count();
                let modules = workspace.graph().modules().count();
                let (end, log) = index_message(&task.load, started);
                self.log.extend(log);
                if let Some(message) = workspace.file_limit_message() {
                    self.log.push((true, format!("modgraph: {message}")));
                }
                self.log.push((
                    false,
                    format!(
                        "modgraph: indexed {files} file{} ({modules} modules in the graph) in {} ms",
                        if files == 1 { "" } else { "s" },
                        started.elapsed().as_millis()
                    ),
                ));
                self.progress.end(task, end);
                for (path, doc) in &self.documents {
                    workspace.set_overlay(path, Some(doc.text.as_str().into()));
                    workspace.apply(FileChange::Changed(path.clone()));
                }
                self.workspace = Some(workspace);
                self.pending.run_everything();
                self.rule_cache = crate::rules::RuleCache::default();
                self.converted.clear();
                self.disk_texts.clear();
                self.uris.clear();
            }
            Err(error) => {
                self.progress.end(task, "failed".into());
                tracing::error!("cannot open the workspace: {error}");
                self.log.push((
                    true,
                    format!("modgraph: cannot open the workspace: {error}"),
                ));
            }
        }
    }

    /// Points the server's own watcher (if any) at the current folders.
    fn watch_roots(&mut self) {
        let Some(watcher) = &mut self.watcher else {
            return;
        };
        let before = watcher.roots();
        for error in watcher.set_roots(&self.roots) {
            tracing::warn!("{error}");
            self.log.push((
                true,
                format!("modgraph: {error}; changes made outside the editor are not seen"),
            ));
        }
        let after = watcher.roots();
        if after != before && !after.is_empty() {
            self.log.push((
                false,
                format!(
                    "modgraph: watching {} workspace folder{} for file changes (the client does \
                     not watch files)",
                    after.len(),
                    if after.len() == 1 { "" } else { "s" }
                ),
            ));
        }
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Index => self.open_workspace(),
            Event::Open { uri, text, version } => {
                let Some(path) = convert::path_of(&uri) else {
                    return;
                };
                self.documents.insert(
                    path.clone(),
                    Document {
                        text,
                        version,
                        uri: uri.clone(),
                    },
                );
                self.sync_overlay(&path);
            }
            Event::Change {
                uri,
                version,
                changes,
            } => {
                let Some(path) = convert::path_of(&uri) else {
                    return;
                };
                let encoding = self.encoding;
                let Some(doc) = self.documents.get_mut(&path) else {
                    tracing::warn!("change to a document that is not open: {}", path.display());
                    return;
                };
                if version < doc.version {
                    tracing::warn!(
                        "version {version} is older than {}; change ignored",
                        doc.version
                    );
                    return;
                }
                for change in changes {
                    apply_change(&mut doc.text, change, encoding);
                }
                doc.version = version;
                self.sync_overlay(&path);
            }
            Event::Close { uri } => {
                let Some(path) = convert::path_of(&uri) else {
                    return;
                };
                self.documents.remove(&path);
                if let Some(ws) = &mut self.workspace {
                    ws.set_overlay(&path, None);
                }
                self.follow(FileChange::Changed(path));
            }
            Event::Save { uri } => {
                if let Some(path) = convert::path_of(&uri) {
                    self.sync_overlay(&path);
                }
            }
            Event::Watched(events) => {
                for event in events {
                    let Some(path) = convert::path_of(&event.uri) else {
                        continue;
                    };
                    let change = match event.typ {
                        FileChangeType::CREATED => FileChange::Created(path),
                        FileChangeType::DELETED => FileChange::Deleted(path),
                        _ => FileChange::Changed(path),
                    };
                    self.apply_disk(change);
                }
            }
            Event::Disk(changes) => {
                for change in changes {
                    self.apply_disk(change);
                }
            }
            Event::Rescan => {
                if self.workspace.is_some() {
                    self.open_workspace();
                }
            }
            Event::Created(uris) => {
                for path in uris.iter().filter_map(convert::path_of) {
                    self.apply_disk(FileChange::Created(path));
                }
            }
            Event::Deleted(uris) => {
                for path in uris.iter().filter_map(convert::path_of) {
                    self.apply_disk(FileChange::Deleted(path));
                }
            }
            Event::Renamed(pairs) => {
                for (old, new) in pairs {
                    if let Some(path) = convert::path_of(&old) {
                        self.apply_disk(FileChange::Deleted(path));
                    }
                    if let Some(path) = convert::path_of(&new) {
                        self.apply_disk(FileChange::Created(path));
                    }
                }
            }
            // Answered in `handle`, in order.
            Event::RuntimeAttached {
                pid,
                label,
                modules,
            } => {
                self.log.push((
                    false,
                    format!(
                        "attached to node process {pid} (`{label}`), {} modules loaded",
                        modules.len()
                    ),
                ));
                let mut runtime = AttachedRuntime {
                    pid,
                    label,
                    ..AttachedRuntime::default()
                };
                for module in modules {
                    runtime.modules.insert(module.path, module.hash);
                }
                self.runtimes.runtimes.insert(pid, runtime);
                self.runtimes_changed = true;
            }
            Event::RuntimeModules { pid, modules } => {
                if let Some(runtime) = self.runtimes.runtimes.get_mut(&pid) {
                    for module in modules {
                        runtime.modules.insert(module.path, module.hash);
                    }
                    self.runtimes_changed = true;
                }
            }
            Event::RuntimeReloaded { pid, result } => {
                if let Some(runtime) = self.runtimes.runtimes.get_mut(&pid) {
                    runtime.last_error = if result.ok {
                        None
                    } else {
                        result.error.clone()
                    };
                    self.runtimes_changed = true;
                }
            }
            Event::RuntimeDetached { pid } => {
                if self.runtimes.runtimes.remove(&pid).is_some() {
                    self.log
                        .push((false, format!("node process {pid} exited; detached")));
                    self.runtimes_changed = true;
                }
            }
            Event::Query(_) => {}
            Event::Configuration(value) => match serde_json::from_value::<Config>(value) {
                Ok(config) => match config.validate("settings") {
                    Ok(()) => {
                        let only_levels = self.workspace.as_ref().is_some_and(|ws| {
                            ws.config().ignore == config.ignore
                                && ws.config().conditions == config.conditions
                        });
                        if only_levels {
                            // Rule levels only: the graph stays, the rules run again.
                            if let Some(ws) = &mut self.workspace {
                                ws.set_rule_levels(config.rules.clone());
                            }
                            self.rule_cache = crate::rules::RuleCache::default();
                            self.pending.run_everything();
                            self.config = Some(config);
                        } else {
                            self.config = Some(config);
                            if self.workspace.is_some() {
                                self.open_workspace();
                            }
                        }
                    }
                    Err(error) => self.log.push((true, format!("modgraph: {error}"))),
                },
                Err(error) => self.log.push((
                    true,
                    format!("modgraph: invalid settings, kept the previous ones: {error}"),
                )),
            },
            Event::Folders { added, removed } => {
                let removed: Vec<PathBuf> = removed.iter().filter_map(convert::path_of).collect();
                self.roots.retain(|r| !removed.contains(r));
                for path in added.iter().filter_map(convert::path_of) {
                    if !self.roots.contains(&path) {
                        self.roots.push(path);
                    }
                }
                self.open_workspace();
            }
        }
    }

    /// A file changed on disk. Open documents keep their editor text.
    fn apply_disk(&mut self, change: FileChange) {
        // While a document is open its buffer is the truth; closing it reads the disk again.
        if let FileChange::Changed(path) | FileChange::Created(path) | FileChange::Deleted(path) =
            &change
            && self.documents.contains_key(path)
        {
            return;
        }
        self.follow(change);
    }

    /// Applies a change to the workspace and records what the next diagnostics run must redo.
    fn follow(&mut self, change: FileChange) {
        let Some(ws) = &mut self.workspace else {
            return;
        };
        let path = match &change {
            FileChange::Changed(p) | FileChange::Created(p) | FileChange::Deleted(p) => p.clone(),
        };
        let was_loaded = ws
            .graph()
            .id(&path)
            .is_some_and(|id| ws.graph().is_loaded(id));
        let result = if Workspace::rebuilds_on(&change) {
            let task = self.progress.begin("Indexing");
            let started = std::time::Instant::now();
            let result = ws.apply_with_progress(change.clone(), task.load.clone());
            let (end, log) = index_message(&task.load, started);
            self.log.extend(log);
            self.progress.end(task, end);
            result
        } else {
            let started = std::time::Instant::now();
            let result = ws.apply(change.clone());
            tracing::debug!(
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                structure = result.structure,
                "change applied"
            );
            result
        };
        self.pending.record(&change, was_loaded, result);
        self.touched.insert(path);
    }

    fn sync_overlay(&mut self, path: &Path) {
        let (Some(ws), Some(doc)) = (&mut self.workspace, self.documents.get(path)) else {
            return;
        };
        ws.set_overlay(path, Some(doc.text.as_str().into()));
        self.follow(FileChange::Changed(path.to_path_buf()));
    }

    fn publish(&mut self) -> (Vec<Publish>, Option<Arc<FixSnapshot>>) {
        let Some(ws) = &self.workspace else {
            return (Vec::new(), None);
        };
        let touched = std::mem::take(&mut self.touched);
        let runtimes_changed = std::mem::take(&mut self.runtimes_changed);
        if self.pending.is_empty() && touched.is_empty() && !runtimes_changed {
            return (Vec::new(), None);
        }
        for path in &touched {
            self.content_hashes.remove(path);
        }
        let started = std::time::Instant::now();
        let mut found = self.pending.run(ws, &mut self.rule_cache);
        tracing::debug!(
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "rules ran"
        );
        if !self.runtimes.is_empty() {
            found.extend(runtime_diagnostics(
                ws,
                &self.runtimes,
                &self.documents,
                &mut self.content_hashes,
            ));
        }
        let graph = ws.graph();
        let mut by_file: FxHashMap<crate::graph::FileId, Vec<crate::diagnostic::Diagnostic>> =
            FxHashMap::default();
        for d in found {
            by_file.entry(d.location.file).or_default().push(d);
        }
        let encoding = self.encoding;
        let touched_files: FxHashSet<FileId> = touched.iter().filter_map(|p| graph.id(p)).collect();
        // Reuse what is unchanged; collect the rest and the files it mentions.
        let mut next: FxHashMap<FileId, Converted> = FxHashMap::default();
        let mut todo: Vec<(FileId, Vec<crate::diagnostic::Diagnostic>, Vec<FileId>)> = Vec::new();
        // What is replaced is freed on another thread: a change can replace thousands of them.
        let mut replaced: Vec<Converted> = Vec::new();
        for (file, source) in by_file {
            if let Some(old) = self.converted.remove(&file) {
                if old.source == source && !old.mentions.iter().any(|m| touched_files.contains(m)) {
                    next.insert(file, old);
                    continue;
                }
                replaced.push(old);
            }
            let mut mentions: Vec<FileId> = source
                .iter()
                .flat_map(|d| {
                    std::iter::once(d.location.file)
                        .chain(d.related.iter().map(|r| r.location.file))
                })
                .collect();
            mentions.sort_unstable();
            mentions.dedup();
            todo.push((file, source, mentions));
        }
        let converting = std::time::Instant::now();
        let files_to_convert = todo.len();
        // Each mentioned file is read and indexed once; disk texts are kept until the file
        // changes (diagnostics of many files often name the same few).
        for file in &touched_files {
            self.disk_texts.remove(file);
        }
        if self.disk_texts.len() > MAX_DISK_TEXTS {
            self.disk_texts.clear();
        }
        // (text, its line starts when kept: open documents change with every edit)
        type Text = (Arc<str>, Option<Arc<[u32]>>);
        let mut texts: FxHashMap<FileId, Text> = FxHashMap::default();
        for (_, _, mentions) in &todo {
            for &m in mentions {
                if texts.contains_key(&m) {
                    continue;
                }
                let path = graph.path(m);
                let text = match self.documents.get(path) {
                    Some(doc) => Some((Arc::from(doc.text.as_str()), None)),
                    None => match self.disk_texts.get(&m) {
                        Some(disk) => Some((disk.text.clone(), Some(disk.line_starts.clone()))),
                        None => std::fs::read_to_string(path).ok().map(|t| {
                            let text: Arc<str> = t.into();
                            let line_starts = LineIndex::new(&text).line_starts();
                            self.disk_texts.insert(
                                m,
                                DiskText {
                                    text: text.clone(),
                                    line_starts: line_starts.clone(),
                                },
                            );
                            (text, Some(line_starts))
                        }),
                    },
                };
                if let Some(text) = text {
                    texts.insert(m, text);
                }
            }
        }
        let indexes: FxHashMap<FileId, LineIndex> = texts
            .iter()
            .map(|(file, (text, starts))| {
                let index = match starts {
                    Some(starts) => LineIndex::with_line_starts(text, starts.clone()),
                    None => LineIndex::new(text),
                };
                (*file, index)
            })
            .collect();
        if self.uris.len() > MAX_KEPT_URIS {
            self.uris.clear();
        }
        // URIs first (kept across runs), then the conversions side by side: a file that
        // disappears can leave diagnostics in hundreds of importers.
        let mut with_uris = Vec::with_capacity(todo.len());
        for (file, source, mentions) in todo {
            let client_uri = self.documents.get(graph.path(file)).map(|d| d.uri.clone());
            let uri = match client_uri {
                Some(uri) => Some(uri),
                None => match self.uris.get(&file) {
                    Some(uri) => Some(uri.clone()),
                    None => convert::uri_of(graph.path(file)).inspect(|uri| {
                        self.uris.insert(file, uri.clone());
                    }),
                },
            };
            if let Some(uri) = uri {
                with_uris.push((file, source, mentions, uri));
            }
        }
        let convert_one = |(file, source, mentions, uri): (
            FileId,
            Vec<crate::diagnostic::Diagnostic>,
            Vec<FileId>,
            Uri,
        )| {
            let (diagnostics, fixes) = convert_file(file, &source, graph, &indexes, encoding);
            let converted = Converted {
                source,
                mentions,
                uri,
                diagnostics: diagnostics.into(),
                fixes: fixes.into(),
            };
            (file, converted)
        };
        next.extend(super::map_many(with_uris, convert_one));
        tracing::debug!(
            files = files_to_convert,
            elapsed_ms = converting.elapsed().as_secs_f64() * 1000.0,
            "diagnostics converted"
        );
        // Files whose diagnostics changed or went away.
        let mut publishes = Vec::new();
        let edited_documents = touched.iter().filter(|p| self.documents.contains_key(*p));
        let mut paths: Vec<PathBuf> = next
            .keys()
            .map(|file| graph.path(*file).to_path_buf())
            .chain(self.published.keys().cloned())
            .chain(edited_documents.cloned())
            .collect();
        paths.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        paths.dedup();
        let any_documents = !self.documents.is_empty();
        for path in paths {
            let file = graph.id(&path);
            let converted = file.and_then(|file| next.get(&file));
            let new: Arc<[Diagnostic]> =
                converted.map_or_else(|| Arc::from([]), |c| c.diagnostics.clone());
            let document = if any_documents {
                self.documents.get(&path)
            } else {
                None
            };
            // An edited open document always gets a publish with its new version.
            let edited = document.is_some() && touched.contains(&path);
            let unchanged = match self.published.get(&path) {
                Some(old) => *old == new,
                None => new.is_empty(),
            };
            if unchanged && !edited {
                continue;
            }
            let Some(uri) = document
                .map(|d| d.uri.clone())
                .or_else(|| converted.map(|c| c.uri.clone()))
                .or_else(|| file.and_then(|file| self.uris.get(&file).cloned()))
                .or_else(|| convert::uri_of(&path))
            else {
                continue;
            };
            let version = document.map(|d| d.version);
            if new.is_empty() {
                self.published.remove(&path);
            } else {
                self.published.insert(path, new.clone());
            }
            publishes.push(Publish {
                uri,
                diagnostics: new,
                version,
            });
        }
        let mut fixes = FixSnapshot::default();
        for (file, converted) in &next {
            if !converted.fixes.is_empty() {
                fixes.by_path.insert(
                    graph.path(*file).to_path_buf(),
                    FileFixes {
                        uri: converted.uri.clone(),
                        diagnostics: converted.diagnostics.clone(),
                        fixes: converted.fixes.clone(),
                    },
                );
            }
        }
        crate::background::drop_elsewhere((std::mem::replace(&mut self.converted, next), replaced));
        (publishes, Some(Arc::new(fixes)))
    }
}

/// Disk texts kept for converting positions; the cache starts over beyond this.
const MAX_DISK_TEXTS: usize = 4096;

/// URIs kept for converted files; the cache starts over beyond this.
const MAX_KEPT_URIS: usize = 4096;

/// The end of an index for the progress; for a cancelled index, a line for the user's log that
/// says what the diagnostics now cover.
fn index_message(
    load: &crate::workspace::LoadProgress,
    started: std::time::Instant,
) -> (String, Option<(bool, String)>) {
    let (done, total) = load.counts();
    if !load.was_interrupted() {
        return (
            format!("{done} files in {} ms", started.elapsed().as_millis()),
            None,
        );
    }
    let log = format!(
        "modgraph: indexing cancelled after {done} of {total} files: diagnostics cover those \
         files; the others join when they change, or at the next full index (workspace folders \
         or settings changed, or a restart)"
    );
    (
        format!("cancelled after {done}/{total} files"),
        Some((false, log)),
    )
}

/// Applies one content change. Ranges out of bounds are clamped; a change without a range
/// replaces the whole text.
fn apply_change(text: &mut String, change: TextDocumentContentChangeEvent, encoding: Encoding) {
    let Some(range) = change.range else {
        *text = change.text;
        return;
    };
    let index = LineIndex::new(text);
    let start = convert::offset(&index, range.start, encoding) as usize;
    let end = (convert::offset(&index, range.end, encoding) as usize).max(start);
    let (start, end) = (start.min(text.len()), end.min(text.len()));
    text.replace_range(start..end, &change.text);
}

/// The quick fix of `stale-import/runtime-outdated`: reload everything outdated in the attached
/// processes (an import site's own file is not what changed).
/// One file's diagnostics and quick fixes in LSP terms.
fn convert_file(
    file: FileId,
    source: &[crate::diagnostic::Diagnostic],
    graph: &crate::graph::ModuleGraph,
    indexes: &FxHashMap<FileId, LineIndex>,
    encoding: Encoding,
) -> (Vec<Diagnostic>, Vec<QuickFix>) {
    let index_of = |f: FileId| indexes.get(&f);
    let mut diagnostics = Vec::new();
    let mut fixes = Vec::new();
    for d in source {
        let Some(lsp) = convert::diagnostic(d, |f| graph.path(f), index_of, encoding) else {
            continue;
        };
        let at = diagnostics.len();
        if let Some(index) = indexes.get(&file) {
            for fix in &d.fixes {
                let edits: Vec<TextEdit> = fix
                    .edits
                    .iter()
                    .filter(|e| e.location.file == d.location.file)
                    .map(|e| TextEdit {
                        range: convert::range(index, e.location.span, encoding),
                        new_text: e.new_text.clone(),
                    })
                    .collect();
                fixes.push(QuickFix {
                    diagnostic: at,
                    action: FixAction::Edit {
                        title: fix.title.clone(),
                        edits,
                    },
                });
            }
        }
        if d.code == crate::rules::runtime_outdated::CODE {
            fixes.push(QuickFix {
                diagnostic: at,
                action: FixAction::Reload,
            });
        }
        diagnostics.push(lsp);
    }
    (diagnostics, fixes)
}

fn reload_action(diagnostic: Diagnostic) -> CodeAction {
    CodeAction {
        title: "Reload the outdated subgraph in the attached Node process".into(),
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![diagnostic]),
        command: Some(tower_lsp_server::ls_types::Command {
            title: "Reload subgraph".into(),
            command: "modgraph.reloadSubgraph".into(),
            arguments: None,
        }),
        is_preferred: Some(true),
        ..CodeAction::default()
    }
}

fn current_hash(
    documents: &FxHashMap<PathBuf, Document>,
    cache: &mut FxHashMap<PathBuf, Option<String>>,
    path: &Path,
) -> Option<String> {
    if let Some(known) = cache.get(path) {
        return known.clone();
    }
    let hash = match documents.get(path) {
        Some(doc) => Some(crate::runtime::content_hash(doc.text.as_bytes())),
        None => std::fs::read(path)
            .ok()
            .map(|bytes| crate::runtime::content_hash(&bytes)),
    };
    cache.insert(path.to_path_buf(), hash.clone());
    hash
}

fn runtime_diagnostics(
    ws: &Workspace,
    facts: &RuntimeFacts,
    documents: &FxHashMap<PathBuf, Document>,
    hashes: &mut FxHashMap<PathBuf, Option<String>>,
) -> Vec<crate::diagnostic::Diagnostic> {
    let mut texts: FxHashMap<PathBuf, String> = FxHashMap::default();
    let mut offset_of = |path: &Path, line: u32, column: u32| -> Option<u32> {
        if !texts.contains_key(path) {
            let text = match documents.get(path) {
                Some(doc) => doc.text.clone(),
                None => std::fs::read_to_string(path).ok()?,
            };
            texts.insert(path.to_path_buf(), text);
        }
        let text = texts.get(path)?;
        let index = LineIndex::new(text);
        let at = crate::line_index::LineCol {
            line: line.saturating_sub(1),
            col: column.saturating_sub(1),
        };
        Some(index.offset(at, true))
    };
    let mut hash_of = |path: &Path| current_hash(documents, hashes, path);
    crate::rules::runtime_outdated::diagnostics(ws, facts, &mut hash_of, &mut offset_of)
}

impl Session {
    /// Reload plans for every attached process: `file` (and what imports it), or everything
    /// each process holds in an older version than the editor has.
    pub fn reload_plans(&self, file: Option<&Path>) -> Vec<(u32, ReloadParams)> {
        let Some(ws) = &self.workspace else {
            return Vec::new();
        };
        let mut hashes = self.content_hashes.clone();
        let mut plans = Vec::new();
        for runtime in self.runtimes.runtimes.values() {
            let changed: Vec<PathBuf> = match file {
                Some(file) => vec![file.to_path_buf()],
                None => {
                    let mut outdated: Vec<PathBuf> = runtime
                        .modules
                        .iter()
                        .filter(|(path, loaded)| {
                            current_hash(&self.documents, &mut hashes, path)
                                .is_some_and(|now| now != **loaded)
                        })
                        .map(|(path, _)| path.clone())
                        .collect();
                    outdated.sort();
                    outdated
                }
            };
            if changed.is_empty() {
                continue;
            }
            plans.push((
                runtime.pid,
                crate::runtime::plan::reload_params(ws.graph(), &changed),
            ));
        }
        plans
    }
}
