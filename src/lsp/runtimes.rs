//! Attached runtimes: the server finds Node processes that run the modgraph agent with their
//! working directory inside a workspace folder, keeps one connection to each, and turns what
//! they report into session events. Detaches when a process exits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::runtime::client::AgentNotification;
use crate::runtime::protocol::ProcessInfo;
use crate::runtime::{AgentClient, ReloadParams, ReloadResult, discovery};

use super::session::Event;

struct Attached {
    client: Arc<AgentClient>,
}

/// The processes the server is attached to.
pub struct Runtimes {
    attached: Mutex<BTreeMap<u32, Attached>>,
    connecting: Mutex<BTreeSet<u32>>,
    roots: RwLock<Vec<PathBuf>>,
    events: mpsc::Sender<Event>,
    directory: PathBuf,
    rescan: mpsc::UnboundedSender<()>,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

impl Runtimes {
    /// Starts watching the discovery folder; attaches to what is there and what appears.
    pub fn start(roots: Vec<PathBuf>, events: mpsc::Sender<Event>) -> Arc<Self> {
        Self::start_in(discovery::runtime_directory(), roots, events)
    }

    fn start_in(directory: PathBuf, roots: Vec<PathBuf>, events: mpsc::Sender<Event>) -> Arc<Self> {
        let (rescan, mut rescan_rx) = mpsc::unbounded_channel();
        let runtimes = Arc::new(Self {
            attached: Mutex::default(),
            connecting: Mutex::default(),
            roots: RwLock::new(roots),
            events,
            directory,
            rescan,
            watcher: Mutex::new(None),
        });
        runtimes.watch_directory();
        let weak = Arc::downgrade(&runtimes);
        tokio::spawn(async move {
            loop {
                let Some(runtimes) = weak.upgrade() else {
                    return;
                };
                runtimes.scan();
                drop(runtimes);
                if rescan_rx.recv().await.is_none() {
                    return;
                }
                while rescan_rx.try_recv().is_ok() {}
            }
        });
        runtimes
    }

    fn watch_directory(&self) {
        if let Err(error) = create_private_dir(&self.directory) {
            tracing::info!(
                "no runtime discovery: cannot create {}: {error}",
                self.directory.display()
            );
            return;
        }
        let rescan = self.rescan.clone();
        match record_watcher(&self.directory, move |_| {
            let _ = rescan.send(());
        }) {
            Ok(watcher) => {
                if let Ok(mut slot) = self.watcher.lock() {
                    *slot = Some(watcher);
                }
            }
            Err(error) => tracing::info!(
                "cannot watch {} for runtimes: {error}",
                self.directory.display()
            ),
        }
    }

    /// Workspace folders added and removed: processes under new folders are attached.
    pub fn change_roots(&self, added: Vec<PathBuf>, removed: Vec<PathBuf>) {
        if let Ok(mut roots) = self.roots.write() {
            roots.retain(|r| !removed.contains(r));
            roots.extend(added);
        }
        let _ = self.rescan.send(());
    }

    /// Attaches to every live process under a workspace folder not attached yet.
    fn scan(self: &Arc<Self>) {
        let roots = self.roots.read().map(|r| r.clone()).unwrap_or_default();
        let records = match discovery::records_within(&self.directory, &roots) {
            Ok(records) => records,
            Err(error) => {
                tracing::warn!("not attaching to Node processes: {error}");
                return;
            }
        };
        for record in records {
            let known = self
                .attached
                .lock()
                .is_ok_and(|a| a.contains_key(&record.pid));
            let fresh = self
                .connecting
                .lock()
                .is_ok_and(|mut c| c.insert(record.pid));
            if known || !fresh {
                if fresh && let Ok(mut c) = self.connecting.lock() {
                    c.remove(&record.pid);
                }
                continue;
            }
            let this = Arc::clone(self);
            tokio::spawn(async move {
                this.attach(record).await;
            });
        }
    }

    async fn attach(self: Arc<Self>, record: discovery::RuntimeRecord) {
        let pid = record.pid;
        // The record can appear a moment before the endpoint accepts (or under load, the
        // first attempt can fail): try again for a few seconds before waiting for the next
        // change in the discovery folder.
        let mut delay = std::time::Duration::from_millis(10);
        let mut connected = AgentClient::connect(&record.endpoint, &record.token).await;
        for _ in 0..12 {
            if !matches!(connected, Err(crate::runtime::AgentError::Connect { .. })) {
                break;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_millis(1000));
            connected = AgentClient::connect(&record.endpoint, &record.token).await;
        }
        let (client, mut notifications) = match connected {
            Ok(pair) => pair,
            Err(error) => {
                tracing::info!("cannot attach to node process {pid}: {error}");
                if let Ok(mut c) = self.connecting.lock() {
                    c.remove(&pid);
                }
                return;
            }
        };
        let modules = client.modules().await.unwrap_or_default();
        let label = crate::runtime::facts::label(&client.info().argv);
        let client = Arc::new(client);
        if let Ok(mut attached) = self.attached.lock() {
            attached.insert(
                pid,
                Attached {
                    client: Arc::clone(&client),
                },
            );
        }
        if let Ok(mut c) = self.connecting.lock() {
            c.remove(&pid);
        }
        let _ = self
            .events
            .send(Event::RuntimeAttached {
                pid,
                label,
                modules,
            })
            .await;
        while let Some(notification) = notifications.recv().await {
            let event = match notification {
                AgentNotification::ModulesLoaded(modules) => Event::RuntimeModules { pid, modules },
                AgentNotification::ReloadFinished(result) => Event::RuntimeReloaded { pid, result },
            };
            if self.events.send(event).await.is_err() {
                return;
            }
        }
        if let Ok(mut attached) = self.attached.lock() {
            attached.remove(&pid);
        }
        let _ = self.events.send(Event::RuntimeDetached { pid }).await;
    }

    /// The attached processes, by pid.
    pub fn list(&self) -> Vec<ProcessInfo> {
        self.attached
            .lock()
            .map(|a| a.values().map(|r| r.client.info().clone()).collect())
            .unwrap_or_default()
    }

    /// Sends each plan to its process; the results come back in the same order. The session
    /// hears about every result (an error becomes a diagnostic).
    pub async fn reload(
        &self,
        plans: Vec<(u32, ReloadParams)>,
    ) -> Vec<(u32, Result<ReloadResult, String>)> {
        let mut results = Vec::new();
        for (pid, params) in plans {
            let client = self
                .attached
                .lock()
                .ok()
                .and_then(|a| a.get(&pid).map(|r| Arc::clone(&r.client)));
            let Some(client) = client else {
                results.push((
                    pid,
                    Err(format!("node process {pid} is no longer attached")),
                ));
                continue;
            };
            match client.reload(&params).await {
                Ok(mut result) => {
                    crate::runtime::locate_syntax_error(&mut result, &params.changed);
                    let _ = self
                        .events
                        .send(Event::RuntimeReloaded {
                            pid,
                            result: Box::new(result.clone()),
                        })
                        .await;
                    results.push((pid, Ok(result)));
                }
                Err(error) => results.push((pid, Err(error.to_string()))),
            }
        }
        results
    }
}

fn create_private_dir(directory: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(directory)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(directory)
}

/// Watches the discovery folder, calling `on_change` with each event that can change what a scan
/// finds.
fn record_watcher(
    dir: &std::path::Path,
    on_change: impl Fn(&notify::Event) + Send + 'static,
) -> notify::Result<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && changes_records(&event.kind)
        {
            on_change(&event);
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

/// Whether a discovery folder event can add, change or remove a record. Reading the folder is
/// itself an event (it is opened and closed): a scan must not start the next one.
fn changes_records(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading the folder (a scan) calls nothing; the creation of a record does.
    #[test]
    fn reading_the_discovery_folder_starts_no_scan() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().join("modgraph");
        create_private_dir(&dir).expect("discovery folder");
        let (tx, rx) = std::sync::mpsc::channel();
        let _watcher = record_watcher(&dir, move |event| {
            let _ = tx.send(event.clone());
        })
        .expect("watcher");
        let scanned = discovery::live_records(&dir).expect("scan");
        assert!(scanned.is_empty());
        let record = dir.join("1.json");
        std::fs::write(&record, "{}").expect("write record");
        // Events arrive in order: the first one passed on must be the record's.
        let bound = std::time::Duration::from_secs(20);
        let first = rx.recv_timeout(bound).expect("the record is reported");
        assert!(first.paths.contains(&record), "{first:?}");
    }
}
