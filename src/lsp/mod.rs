//! The language server: tower-lsp glue. This module is the only one that knows LSP types and
//! JSON-RPC. Handlers never touch state: they queue [`Event`]s for one ordered loop that owns
//! the [`Session`], and queries read the latest immutable snapshot.

mod convert;
mod progress;
mod queries;
mod runtimes;
mod session;
mod transport;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, watch};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use convert::Encoding;
use progress::{Cancels, Progress};
pub use session::Event;
use session::{FixSnapshot, Output, Query, Session};

use crate::workspace::watch::{Burst, FolderWatcher};

/// How long a reload may take before the command gives up waiting (the server handles one
/// message at a time).
const RELOAD_PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

/// How many events may wait for the loop before handlers wait (back-pressure).
const QUEUE: usize = 4096;

struct Backend {
    client: Client,
    /// Diagnostics go out through the output queue (see `transport`).
    outgoing: transport::Outgoing,
    events: mpsc::Sender<Event>,
    start: std::sync::Mutex<Option<mpsc::Receiver<Event>>>,
    fixes: Arc<RwLock<Arc<FixSnapshot>>>,
    /// Progress cancels, shared with the frame filter that receives them.
    cancels: Cancels,
    /// True once `initialized` arrived: the client may receive requests (progress tokens).
    initialized: watch::Sender<bool>,
    /// The client registers file watchers for us (else the server watches by itself).
    client_watches: std::sync::atomic::AtomicBool,
    /// Node processes with the agent under the workspace folders.
    runtimes: std::sync::OnceLock<Arc<runtimes::Runtimes>>,
}

impl Backend {
    /// `modgraph.reloadSubgraph [uri]`: reloads the file's subgraph (or everything outdated) in
    /// every attached process and answers with what each did.
    async fn reload_subgraph(&self, params: ExecuteCommandParams) -> serde_json::Value {
        let file = params
            .arguments
            .first()
            .and_then(|a| a.as_str())
            .and_then(|a| a.parse::<Uri>().ok())
            .and_then(|uri| convert::path_of(&uri));
        let Some(runtimes) = self.runtimes.get().cloned() else {
            return serde_json::json!({ "runtimes": [], "message": "no Node process is attached" });
        };
        if runtimes.list().is_empty() {
            return serde_json::json!({
                "runtimes": [],
                "message": "no Node process with the modgraph agent runs under the workspace folders; start one with `modgraph run -- node app.mjs`"
            });
        }
        let plans = self
            .query(move |s| s.reload_plans(file.as_deref()))
            .await
            .unwrap_or_default();
        if plans.is_empty() {
            return serde_json::json!({ "runtimes": [], "message": "every attached process runs the current code" });
        }
        let base = plans
            .first()
            .and_then(|(_, p)| p.changed.first())
            .and_then(|p| p.parent())
            .map(PathBuf::from)
            .unwrap_or_default();
        let waited = tokio::time::timeout(RELOAD_PATIENCE, runtimes.reload(plans)).await;
        let Ok(results) = waited else {
            return serde_json::json!({ "runtimes": [], "message": "the Node process did not answer the reload in time" });
        };
        let mut summaries = Vec::new();
        let entries: Vec<serde_json::Value> = results
            .into_iter()
            .map(|(pid, outcome)| match outcome {
                Ok(result) => {
                    let summary = crate::runtime::report::describe(&result, &base);
                    summaries.push(format!("node {pid}: {summary}"));
                    serde_json::json!({ "pid": pid, "summary": summary, "result": result })
                }
                Err(error) => {
                    summaries.push(format!("node {pid}: {error}"));
                    serde_json::json!({ "pid": pid, "error": error })
                }
            })
            .collect();
        serde_json::json!({ "runtimes": entries, "message": summaries.join("; ") })
    }

    async fn send(&self, event: Event) {
        if self.events.send(event).await.is_err() {
            tracing::error!("the event loop has stopped");
        }
    }

    /// Asks the loop; the answer reflects every change sent before. `None` if the question
    /// failed (it is logged).
    async fn query<T: Send + 'static>(
        &self,
        question: impl FnOnce(&Session) -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Event::Query(Query(Box::new(move |session| {
            let answer = question(session);
            Box::new(move || {
                let _ = tx.send(answer);
            })
        }))))
        .await;
        rx.await.ok()
    }
}

/// Runs the loop: drains every queued event, applies them in order off the async threads, and
/// publishes what changed.
async fn event_loop(
    client: Client,
    outgoing: transport::Outgoing,
    mut session: Session,
    mut rx: mpsc::Receiver<Event>,
    fixes: Arc<RwLock<Arc<FixSnapshot>>>,
    refresh: bool,
    mut initialized: watch::Receiver<bool>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(next) = rx.try_recv() {
            batch.push(next);
        }
        let events = batch.len();
        let started = std::time::Instant::now();
        let outcome = tokio::task::spawn_blocking(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let (outputs, snapshot) = session.handle(batch);
                (publish_frames(&outputs), outputs, snapshot)
            }));
            (session, result)
        })
        .await;
        tracing::debug!(
            events,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "burst applied"
        );
        let Ok((returned, result)) = outcome else {
            tracing::error!("the event loop's worker stopped; the server cannot go on");
            return;
        };
        session = returned;
        match result {
            Ok((mut frames, outputs, snapshot)) => {
                if let Some(snapshot) = snapshot
                    && let Ok(mut slot) = fixes.write()
                {
                    crate::background::drop_elsewhere(std::mem::replace(&mut *slot, snapshot));
                }
                // The framework drops notifications sent before the `initialize` response;
                // the client's `initialized` comes after it.
                if !outputs.is_empty() && !*initialized.borrow() {
                    let _ = initialized.wait_for(|ready| *ready).await;
                }
                let started = std::time::Instant::now();
                let count = outputs.len();
                for output in outputs {
                    match output {
                        Output::Publish(_) => {
                            if let Some(frame) = frames.next().flatten() {
                                outgoing.send_frame(frame);
                            }
                        }
                        Output::Answer(deliver) => deliver(),
                        Output::Refresh => {
                            if refresh {
                                // A request to the client: never wait for it in the loop.
                                let client = client.clone();
                                tokio::spawn(async move {
                                    let _ = client.workspace_diagnostic_refresh().await;
                                });
                            }
                        }
                        Output::Log { error, message } => {
                            let kind = if error {
                                MessageType::ERROR
                            } else {
                                MessageType::INFO
                            };
                            outgoing.notify::<notification::LogMessage>(&LogMessageParams {
                                typ: kind,
                                message,
                            });
                        }
                    }
                }
                tracing::debug!(
                    count,
                    elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "outputs sent"
                );
            }
            Err(_) => tracing::error!(
                "an internal error interrupted this batch of changes; the next change retries"
            ),
        }
    }
}

fn negotiate_encoding(params: &InitializeParams) -> Encoding {
    let offered = params
        .capabilities
        .general
        .as_ref()
        .and_then(|g| g.position_encodings.as_ref());
    if offered.is_some_and(|list| list.contains(&PositionEncodingKind::UTF8)) {
        Encoding::Utf8
    } else {
        Encoding::Utf16
    }
}

fn roots(params: &InitializeParams) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = params
        .workspace_folders
        .iter()
        .flatten()
        .filter_map(|f| convert::path_of(&f.uri))
        .collect();
    #[allow(deprecated)]
    if roots.is_empty()
        && let Some(root) = params.root_uri.as_ref().and_then(convert::path_of)
    {
        roots.push(root);
    }
    roots
}

/// Whether the client accepts `workspace/didChangeWatchedFiles` registered at run time.
fn client_watches(params: &InitializeParams) -> bool {
    params
        .capabilities
        .workspace
        .as_ref()
        .and_then(|w| w.did_change_watched_files.as_ref())
        .and_then(|w| w.dynamic_registration)
        .unwrap_or(false)
}

/// The server's own watcher, feeding the loop like the client's notifications would.
fn own_watcher(events: mpsc::Sender<Event>) -> Option<FolderWatcher> {
    let watcher = FolderWatcher::new(move |burst| {
        let event = match burst {
            Burst::Changes(changes) => Event::Disk(changes),
            Burst::Rescan => Event::Rescan,
        };
        // The watcher's own thread, outside the runtime: waiting here is back-pressure.
        events.blocking_send(event).is_ok()
    });
    match watcher {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            tracing::error!("{error}; changes made outside the editor are not seen");
            None
        }
    }
}

fn settings(value: &serde_json::Value) -> serde_json::Value {
    // Clients send either the settings themselves or `{ "modgraph": { … } }`.
    value
        .get("modgraph")
        .cloned()
        .unwrap_or_else(|| value.clone())
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let encoding = negotiate_encoding(&params);
        let pull = params
            .capabilities
            .text_document
            .as_ref()
            .is_some_and(|t| t.diagnostic.is_some());
        let config = params
            .initialization_options
            .as_ref()
            .map(settings)
            .and_then(
                |value| match serde_json::from_value::<crate::config::Config>(value) {
                    Ok(config) => Some(config),
                    Err(error) => {
                        tracing::error!(
                            "invalid initializationOptions, using modgraph.json: {error}"
                        );
                        None
                    }
                },
            );
        // Start the loop and queue the indexing now, so that every later message is applied
        // after it (handlers of later messages may run concurrently with this one).
        let rx = self.start.lock().ok().and_then(|mut s| s.take());
        if let Some(rx) = rx {
            let work_done = params
                .capabilities
                .window
                .as_ref()
                .and_then(|w| w.work_done_progress)
                .unwrap_or(false);
            let progress = Progress::start(
                self.client.clone(),
                work_done,
                self.initialized.subscribe(),
                self.cancels.clone(),
            );
            let watches = client_watches(&params);
            self.client_watches
                .store(watches, std::sync::atomic::Ordering::Relaxed);
            let watcher = if watches {
                None
            } else {
                own_watcher(self.events.clone())
            };
            let session = Session::new(roots(&params), config, encoding, !pull, progress, watcher);
            let refresh = params
                .capabilities
                .workspace
                .as_ref()
                .and_then(|w| w.diagnostics.as_ref())
                .and_then(|d| d.refresh_support)
                .unwrap_or(false);
            tokio::spawn(event_loop(
                self.client.clone(),
                self.outgoing.clone(),
                session,
                rx,
                self.fixes.clone(),
                refresh,
                self.initialized.subscribe(),
            ));
            self.send(Event::Index).await;
            let canonical: Vec<PathBuf> = roots(&params)
                .into_iter()
                .map(|root| std::fs::canonicalize(&root).unwrap_or(root))
                .collect();
            let _ = self
                .runtimes
                .set(runtimes::Runtimes::start(canonical, self.events.clone()));
        }
        let file_filter = FileOperationRegistrationOptions {
            filters: vec![FileOperationFilter {
                scheme: Some("file".into()),
                pattern: FileOperationPattern {
                    glob: "**/*".into(),
                    matches: None,
                    options: None,
                },
            }],
        };
        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: "modgraph".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            capabilities: ServerCapabilities {
                position_encoding: Some(match encoding {
                    Encoding::Utf8 => PositionEncodingKind::UTF8,
                    Encoding::Utf16 => PositionEncodingKind::UTF16,
                }),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                        ..TextDocumentSyncOptions::default()
                    },
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                document_link_provider: Some(DocumentLinkOptions {
                    resolve_provider: Some(false),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                }),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: queries::COMMANDS.iter().map(|c| c.to_string()).collect(),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                }),
                diagnostic_provider: pull.then(|| {
                    DiagnosticServerCapabilities::Options(DiagnosticOptions {
                        identifier: Some("modgraph".into()),
                        inter_file_dependencies: true,
                        workspace_diagnostics: true,
                        work_done_progress_options: WorkDoneProgressOptions::default(),
                    })
                }),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
                        ..CodeActionOptions::default()
                    },
                )),
                workspace: Some(WorkspaceServerCapabilities {
                    workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                        supported: Some(true),
                        change_notifications: Some(OneOf::Left(true)),
                    }),
                    file_operations: Some(WorkspaceFileOperationsServerCapabilities {
                        did_create: Some(file_filter.clone()),
                        did_delete: Some(file_filter.clone()),
                        did_rename: Some(file_filter.clone()),
                        will_rename: Some(file_filter),
                        ..WorkspaceFileOperationsServerCapabilities::default()
                    }),
                }),
                ..ServerCapabilities::default()
            },
            ..InitializeResult::default()
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        self.initialized.send_replace(true);
        if !self
            .client_watches
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        // Ask the client to watch files; not awaited by the loop.
        let client = self.client.clone();
        tokio::spawn(async move {
            let watchers: Vec<FileSystemWatcher> = [
                "**/*.{js,mjs,cjs,jsx,ts,tsx,mts,cts,json}",
                "**/package.json",
                "**/tsconfig.json",
            ]
            .iter()
            .map(|glob| FileSystemWatcher {
                glob_pattern: GlobPattern::String((*glob).into()),
                kind: None,
            })
            .collect();
            let options = DidChangeWatchedFilesRegistrationOptions { watchers };
            let registration = Registration {
                id: "modgraph-watch".into(),
                method: "workspace/didChangeWatchedFiles".into(),
                register_options: serde_json::to_value(options).ok(),
            };
            if let Err(error) = client.register_capability(vec![registration]).await {
                tracing::info!("the client does not watch files for us: {error}");
            }
        });
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        self.send(Event::Open {
            uri: doc.uri,
            text: doc.text,
            version: doc.version,
        })
        .await;
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let doc = params.text_document;
        self.send(Event::Change {
            uri: doc.uri,
            version: doc.version,
            changes: params.content_changes,
        })
        .await;
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        self.send(Event::Save {
            uri: params.text_document.uri,
        })
        .await;
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.send(Event::Close {
            uri: params.text_document.uri,
        })
        .await;
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        self.send(Event::Watched(params.changes)).await;
    }

    async fn did_create_files(&self, params: CreateFilesParams) {
        let uris = params
            .files
            .iter()
            .filter_map(|f| f.uri.parse().ok())
            .collect();
        self.send(Event::Created(uris)).await;
    }

    async fn did_delete_files(&self, params: DeleteFilesParams) {
        let uris = params
            .files
            .iter()
            .filter_map(|f| f.uri.parse().ok())
            .collect();
        self.send(Event::Deleted(uris)).await;
    }

    async fn did_rename_files(&self, params: RenameFilesParams) {
        let pairs = params
            .files
            .iter()
            .filter_map(|f| Some((f.old_uri.parse().ok()?, f.new_uri.parse().ok()?)))
            .collect();
        self.send(Event::Renamed(pairs)).await;
    }

    async fn will_rename_files(&self, params: RenameFilesParams) -> Result<Option<WorkspaceEdit>> {
        Ok(self
            .query(move |s| queries::will_rename(s, params))
            .await
            .flatten())
    }

    async fn did_change_workspace_folders(&self, params: DidChangeWorkspaceFoldersParams) {
        let event = params.event;
        if let Some(runtimes) = self.runtimes.get() {
            let canonical = |folders: &[WorkspaceFolder]| -> Vec<PathBuf> {
                folders
                    .iter()
                    .filter_map(|f| convert::path_of(&f.uri))
                    .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
                    .collect()
            };
            runtimes.change_roots(canonical(&event.added), canonical(&event.removed));
        }
        self.send(Event::Folders {
            added: event.added.into_iter().map(|f| f.uri).collect(),
            removed: event.removed.into_iter().map(|f| f.uri).collect(),
        })
        .await;
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        self.send(Event::Configuration(settings(&params.settings)))
            .await;
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        Ok(self
            .query(move |s| queries::hover(s, params))
            .await
            .flatten())
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>> {
        Ok(self
            .query(move |s| queries::definition(s, params))
            .await
            .flatten())
    }

    async fn document_link(&self, params: DocumentLinkParams) -> Result<Option<Vec<DocumentLink>>> {
        Ok(self
            .query(move |s| queries::document_links(s, params))
            .await
            .flatten())
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        Ok(self
            .query(move |s| queries::references(s, params))
            .await
            .flatten())
    }

    async fn execute_command(
        &self,
        params: ExecuteCommandParams,
    ) -> Result<Option<serde_json::Value>> {
        match params.command.as_str() {
            "modgraph.listRuntimes" => {
                let list = self.runtimes.get().map(|r| r.list()).unwrap_or_default();
                return Ok(serde_json::to_value(list).ok());
            }
            "modgraph.reloadSubgraph" => return Ok(Some(self.reload_subgraph(params).await)),
            _ => {}
        }
        if !queries::COMMANDS.contains(&params.command.as_str()) {
            return Err(tower_lsp_server::jsonrpc::Error::invalid_params(format!(
                "unknown command {}",
                params.command
            )));
        }
        Ok(self
            .query(move |s| queries::execute_command(s, params))
            .await
            .flatten())
    }

    async fn diagnostic(
        &self,
        params: DocumentDiagnosticParams,
    ) -> Result<DocumentDiagnosticReportResult> {
        let uri = params.text_document.uri;
        self.query(move |s| queries::document_diagnostics(s, &uri))
            .await
            .ok_or_else(tower_lsp_server::jsonrpc::Error::internal_error)
    }

    async fn workspace_diagnostic(
        &self,
        _: WorkspaceDiagnosticParams,
    ) -> Result<WorkspaceDiagnosticReportResult> {
        self.query(queries::workspace_diagnostics)
            .await
            .ok_or_else(tower_lsp_server::jsonrpc::Error::internal_error)
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let snapshot = match self.fixes.read() {
            Ok(s) => s.clone(),
            Err(_) => return Ok(None),
        };
        let Some(fixes) =
            convert::path_of(&params.text_document.uri).and_then(|p| snapshot.by_path.get(&p))
        else {
            return Ok(None);
        };
        let found: Vec<CodeActionOrCommand> = fixes
            .actions_in(params.range)
            .into_iter()
            .map(CodeActionOrCommand::CodeAction)
            .collect();
        Ok((!found.is_empty()).then_some(found))
    }
}

/// Serves LSP over stdin/stdout until the client exits.
pub async fn run_stdio() {
    serve(tokio::io::stdin(), tokio::io::stdout()).await;
}

/// Serves LSP over any byte streams until the input ends or the client exits (stdio, tests,
/// fuzzing).
pub async fn serve(
    input: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    output: impl tokio::io::AsyncWrite + Unpin,
) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let cancels = Cancels::default();
    let backend_cancels = cancels.clone();
    let (framework_output, outgoing, write_output) = transport::output_queue(output);
    let (service, socket) = LspService::new(|client| Backend {
        client,
        outgoing,
        events: tx,
        start: std::sync::Mutex::new(Some(rx)),
        fixes: Arc::new(RwLock::new(Arc::new(FixSnapshot::default()))),
        cancels: backend_cancels,
        initialized: watch::Sender::new(false),
        client_watches: std::sync::atomic::AtomicBool::new(false),
        runtimes: std::sync::OnceLock::new(),
    });
    // One message at a time: handlers queue events when first polled, and concurrent handlers
    // would queue them out of order. Handlers only queue or wait for the loop, which never
    // waits for them, so this cannot deadlock.
    let serve = Server::new(
        transport::filtered(input, cancels),
        framework_output,
        socket,
    )
    .concurrency_level(1)
    .serve(service);
    // The framework's end of the output queue closes with it, which ends the writing.
    tokio::join!(serve, write_output);
}

/// The frames of the publishes among `outputs`, in order: serialized on the burst's thread,
/// and on both threads when a change publishes for many files.
fn publish_frames(outputs: &[Output]) -> std::vec::IntoIter<Option<Vec<u8>>> {
    let publishes: Vec<&session::Publish> = outputs
        .iter()
        .filter_map(|output| match output {
            Output::Publish(p) => Some(p),
            _ => None,
        })
        .collect();
    map_many(publishes, |p| {
        transport::notification_frame::<notification::PublishDiagnostics>(&PublishParams {
            uri: &p.uri,
            diagnostics: &p.diagnostics,
            version: p.version,
        })
    })
    .into_iter()
}

/// Maps `items` in order, on the thread pool when there are many: handing a few over costs
/// more than the work (an edit publishes one file or two).
fn map_many<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
    if items.len() < 32 {
        items.into_iter().map(f).collect()
    } else {
        use rayon::prelude::*;
        items.into_par_iter().map(f).collect()
    }
}

/// `PublishDiagnosticsParams`, borrowing the diagnostics the session keeps as published.
#[derive(serde::Serialize)]
struct PublishParams<'a> {
    uri: &'a tower_lsp_server::ls_types::Uri,
    diagnostics: &'a [tower_lsp_server::ls_types::Diagnostic],
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i32>,
}
