//! Watching workspace folders on disk, for language clients that cannot watch files for us.
//! Raw events are coalesced per burst (a `git checkout` of thousands of files is one burst) and
//! turned into the same [`FileChange`]s the client's notifications would give, decided by what
//! is on disk once the burst is over. Churn inside `node_modules` is ignored except what changes
//! resolution: `package.json` files and package folders appearing or disappearing.

use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use rustc_hash::FxHashMap;

use super::FileChange;

/// A burst is over when nothing happened for this long.
const QUIET: Duration = Duration::from_millis(50);
/// A burst that keeps going is delivered at least this often.
const LONGEST: Duration = Duration::from_secs(1);
/// Above this many changed paths, loading everything again is cheaper than following each.
const RESCAN_OVER: usize = 1000;

/// What a burst of file-system activity amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Burst {
    Changes(Vec<FileChange>),
    /// Too much changed (or the watcher lost events): load the workspace again.
    Rescan,
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot watch files: {0}")]
    Start(#[source] notify::Error),
    #[error("cannot watch {path}: {source}")]
    Folder {
        path: String,
        #[source]
        source: notify::Error,
    },
}

/// Watches folders recursively; bursts go to the sink from a thread of its own. Dropping the
/// watcher stops the events and ends that thread.
pub struct FolderWatcher {
    watcher: RecommendedWatcher,
    /// Canonical folders being watched (shared with the thread, which drops events outside).
    roots: Arc<Mutex<Vec<PathBuf>>>,
}

impl FolderWatcher {
    pub fn new(sink: impl FnMut(Burst) -> bool + Send + 'static) -> Result<Self, WatchError> {
        let (tx, rx) = channel();
        let watcher = notify::recommended_watcher(tx).map_err(WatchError::Start)?;
        let roots: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
        let shared = roots.clone();
        std::thread::Builder::new()
            .name("modgraph-watch".into())
            .spawn(move || coalesce_loop(rx, shared, sink))
            .map_err(|e| WatchError::Start(notify::Error::io(e)))?;
        Ok(Self { watcher, roots })
    }

    /// Watches exactly these folders: starts on new ones, stops on the others. Returns the
    /// folders that could not be watched.
    pub fn set_roots(&mut self, wanted: &[PathBuf]) -> Vec<WatchError> {
        let wanted: Vec<PathBuf> = wanted
            .iter()
            .filter_map(|r| std::fs::canonicalize(r).ok())
            .collect();
        let mut errors = Vec::new();
        let Ok(mut roots) = self.roots.lock() else {
            return errors;
        };
        roots.retain(|root| {
            let keep = wanted.contains(root);
            if !keep && let Err(error) = self.watcher.unwatch(root) {
                tracing::debug!("stop watching {}: {error}", root.display());
            }
            keep
        });
        for root in wanted {
            if roots.contains(&root) {
                continue;
            }
            match self.watcher.watch(&root, RecursiveMode::Recursive) {
                Ok(()) => roots.push(root),
                Err(source) => errors.push(WatchError::Folder {
                    path: root.display().to_string(),
                    source,
                }),
            }
        }
        errors
    }

    /// The folders being watched.
    pub fn roots(&self) -> Vec<PathBuf> {
        self.roots.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// What one path went through during a burst.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Seen {
    /// The first event was a creation: the path did not exist before the burst.
    new: bool,
    /// It was removed (or renamed away) at some point.
    removed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Created,
    Removed,
    Modified,
}

fn marks(event: &notify::Event) -> Vec<(PathBuf, Mark)> {
    let one = |mark| event.paths.iter().map(|p| (p.clone(), mark)).collect();
    match event.kind {
        EventKind::Create(_) => one(Mark::Created),
        EventKind::Remove(_) => one(Mark::Removed),
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => one(Mark::Removed),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => one(Mark::Created),
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            let mut out = Vec::new();
            if let Some(from) = event.paths.first() {
                out.push((from.clone(), Mark::Removed));
            }
            if let Some(to) = event.paths.get(1) {
                out.push((to.clone(), Mark::Created));
            }
            out
        }
        // A rename of unknown direction: what is on disk afterwards decides.
        EventKind::Modify(ModifyKind::Name(_)) => event
            .paths
            .iter()
            .flat_map(|p| [(p.clone(), Mark::Removed), (p.clone(), Mark::Created)])
            .collect(),
        EventKind::Modify(ModifyKind::Metadata(_)) => Vec::new(),
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => one(Mark::Modified),
        EventKind::Access(_) => Vec::new(),
        EventKind::Modify(_) | EventKind::Any | EventKind::Other => one(Mark::Modified),
    }
}

/// Whether an event on `path` can matter: under a watched folder, not in a hidden folder, and in
/// `node_modules` only the folder itself, package folders and `package.json` files.
pub fn relevant(path: &Path, roots: &[PathBuf]) -> bool {
    let Some(root) = roots
        .iter()
        .filter(|r| path.starts_with(r))
        .max_by_key(|r| r.as_os_str().len())
    else {
        return false;
    };
    let Ok(relative) = path.strip_prefix(root) else {
        return false;
    };
    let names: Vec<&str> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_str().unwrap_or("")),
            _ => None,
        })
        .collect();
    let Some((last, folders)) = names.split_last() else {
        return false;
    };
    if folders.iter().any(|n| n.starts_with('.'))
        || (last.starts_with('.') && *last != ".gitignore")
    {
        return false;
    }
    let Some(modules) = names.iter().rposition(|n| *n == "node_modules") else {
        return true;
    };
    let inside = &names[modules + 1..];
    match inside {
        [] | [_] => true,
        [scope, _] if scope.starts_with('@') => true,
        _ => *last == "package.json",
    }
}

/// Turns what each path went through into changes, given what is on disk now (`Some(is_dir)`
/// when the path exists). A change already implied by a folder's change is left out.
fn decide(
    seen: FxHashMap<PathBuf, Seen>,
    exists: impl Fn(&Path) -> Option<bool>,
) -> Vec<FileChange> {
    let mut paths: Vec<(PathBuf, Seen)> = seen.into_iter().collect();
    // Parents sort before their children.
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    let mut created_dirs: Vec<PathBuf> = Vec::new();
    let mut deleted: Vec<PathBuf> = Vec::new();
    let mut out = Vec::new();
    for (path, seen) in paths {
        let now = exists(&path);
        let covered_delete = |deleted: &[PathBuf]| deleted.iter().any(|d| path.starts_with(d));
        let covered_create = |dirs: &[PathBuf]| dirs.iter().any(|d| path.starts_with(d));
        match (seen.new, now) {
            // Came and went within the burst.
            (true, None) => {}
            (false, None) => {
                if !covered_delete(&deleted) {
                    deleted.push(path.clone());
                    out.push(FileChange::Deleted(path));
                }
            }
            (new, Some(is_dir)) if new || seen.removed => {
                // Replaced within the burst: what was there goes first.
                if !new && !covered_delete(&deleted) {
                    deleted.push(path.clone());
                    out.push(FileChange::Deleted(path.clone()));
                }
                if !covered_create(&created_dirs) {
                    if is_dir {
                        created_dirs.push(path.clone());
                    }
                    out.push(FileChange::Created(path));
                }
            }
            (_, Some(true)) => {}
            (_, Some(false)) => {
                if !covered_create(&created_dirs) {
                    out.push(FileChange::Changed(path));
                }
            }
        }
    }
    out
}

fn coalesce_loop(
    rx: Receiver<notify::Result<notify::Event>>,
    roots: Arc<Mutex<Vec<PathBuf>>>,
    mut sink: impl FnMut(Burst) -> bool,
) {
    loop {
        let Ok(first) = rx.recv() else {
            return;
        };
        let started = Instant::now();
        let mut seen: FxHashMap<PathBuf, Seen> = FxHashMap::default();
        let mut rescan = false;
        let mut closed = false;
        let mut next = Some(first);
        while let Some(event) = next.take() {
            let roots = roots.lock().map(|r| r.clone()).unwrap_or_default();
            match event {
                Ok(event) => {
                    rescan |= event.need_rescan();
                    for (path, mark) in marks(&event) {
                        if !relevant(&path, &roots) {
                            continue;
                        }
                        let entry = seen.entry(path).or_insert(Seen {
                            new: mark == Mark::Created,
                            removed: false,
                        });
                        entry.removed |= mark == Mark::Removed;
                    }
                }
                Err(error) => tracing::warn!("file watcher: {error}"),
            }
            let left = LONGEST.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(QUIET.min(left)) {
                Ok(event) => next = Some(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => closed = true,
            }
        }
        let burst = if rescan || seen.len() > RESCAN_OVER {
            Burst::Rescan
        } else {
            let changes = decide(seen, |p| {
                std::fs::symlink_metadata(p).ok().map(|m| m.is_dir())
            });
            if changes.is_empty() {
                continue;
            }
            Burst::Changes(changes)
        };
        tracing::debug!(?burst, "file watcher burst");
        if !sink(burst) || closed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots() -> Vec<PathBuf> {
        vec![PathBuf::from("/w/.tmp1/app")]
    }

    #[test]
    fn node_modules_churn_and_hidden_folders_are_not_relevant() {
        let r = roots();
        let yes = [
            "src/a.js",
            ".gitignore",
            "modgraph.json",
            "node_modules",
            "node_modules/left-pad",
            "node_modules/@scope",
            "node_modules/@scope/pkg",
            "node_modules/left-pad/package.json",
            "node_modules/a/node_modules/b",
            "node_modules/a/node_modules/b/package.json",
            "node_modules/a/lib/package.json",
        ];
        let no = [
            "node_modules/left-pad/index.js",
            "node_modules/@scope/pkg/lib/x.js",
            "node_modules/a/node_modules/b/index.js",
            ".git/index",
            "src/.cache/x.js",
            "src/.a.js.swp",
        ];
        for p in yes {
            assert!(relevant(&r[0].join(p), &r), "{p}");
        }
        for p in no {
            assert!(!relevant(&r[0].join(p), &r), "{p}");
        }
        assert!(!relevant(Path::new("/w/other/a.js"), &r));
    }

    #[test]
    fn folders_no_longer_watched_give_no_changes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = std::fs::canonicalize(dir.path()).expect("canonical");
        let (a, b) = (base.join("a"), base.join("b"));
        for folder in [&a, &b] {
            std::fs::create_dir_all(folder).expect("create folder");
        }
        let (tx, rx) = channel();
        let mut watcher = FolderWatcher::new(move |burst| tx.send(burst).is_ok()).expect("watch");
        assert!(watcher.set_roots(&[a.clone(), b.clone()]).is_empty());
        assert!(watcher.set_roots(std::slice::from_ref(&b)).is_empty());
        assert_eq!(watcher.roots(), vec![b.clone()]);
        // Written in this order: anything about `a` would come before `b`'s file.
        std::fs::write(a.join("x.js"), "").expect("write");
        std::fs::write(b.join("y.js"), "").expect("write");
        loop {
            let burst = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("a burst for the watched folder");
            let Burst::Changes(changes) = burst else {
                panic!("no rescan expected");
            };
            assert!(
                changes.iter().all(|c| !matches!(c,
                    FileChange::Changed(p) | FileChange::Created(p) | FileChange::Deleted(p)
                        if p.starts_with(&a))),
                "{changes:?}"
            );
            if changes.contains(&FileChange::Created(b.join("y.js"))) {
                break;
            }
        }
    }

    fn seen(list: &[(&str, bool, bool)]) -> FxHashMap<PathBuf, Seen> {
        list.iter()
            .map(|(p, new, removed)| {
                (
                    PathBuf::from(p),
                    Seen {
                        new: *new,
                        removed: *removed,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_burst_is_decided_by_the_disk_afterwards() {
        // On disk afterwards: /r/new.js, /r/kept.js, /r/replaced.js, /r/dir (a new folder).
        let on_disk = |p: &Path| match p.to_str() {
            Some("/r/new.js" | "/r/kept.js" | "/r/replaced.js" | "/r/dir/a.js") => Some(false),
            Some("/r/dir") => Some(true),
            _ => None,
        };
        let changes = decide(
            seen(&[
                ("/r/new.js", true, false),
                ("/r/temp.js", true, true),
                ("/r/gone.js", false, true),
                ("/r/kept.js", false, false),
                ("/r/replaced.js", false, true),
                ("/r/dir", true, false),
                ("/r/dir/a.js", true, false),
                ("/r/old", false, true),
                ("/r/old/b.js", false, true),
            ]),
            on_disk,
        );
        assert_eq!(
            changes,
            vec![
                FileChange::Created("/r/dir".into()),
                FileChange::Deleted("/r/gone.js".into()),
                FileChange::Changed("/r/kept.js".into()),
                FileChange::Created("/r/new.js".into()),
                FileChange::Deleted("/r/old".into()),
                FileChange::Deleted("/r/replaced.js".into()),
                FileChange::Created("/r/replaced.js".into()),
            ]
        );
    }
}
