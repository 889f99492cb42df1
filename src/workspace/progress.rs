//! A plain handle between a loading workspace and whoever watches it: how many files are done,
//! how many are known, and whether to stop. The language server turns it into `$/progress`; the
//! workspace knows nothing about that.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

#[derive(Debug, Default)]
pub struct LoadProgress {
    done: AtomicUsize,
    total: AtomicUsize,
    cancelled: AtomicBool,
    /// Some file was skipped because of the cancel (a cancel after the last file is no cancel).
    interrupted: AtomicBool,
    /// Test knob: stop after this many files until cancelled (see `pausing_after`).
    pause_after: Option<usize>,
    gate: Mutex<()>,
    resumed: Condvar,
    /// Test knob: runs once the files are listed, before the first is read (see `on_listed`).
    listed: ListedHook,
}

type Hook = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct ListedHook(Mutex<Option<Hook>>);

impl std::fmt::Debug for ListedHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListedHook")
    }
}

impl LoadProgress {
    pub fn new() -> Self {
        Self::default()
    }

    /// A handle that holds every loader thread once `files` files are done, until
    /// [`LoadProgress::cancel`]. Only for tests that must cancel in the middle of a load without
    /// depending on timing.
    pub fn pausing_after(files: usize) -> Self {
        Self {
            pause_after: Some(files),
            ..Self::default()
        }
    }

    /// A handle that runs `hook` once, after the workspace files are listed and before the first
    /// one is read. Only for tests that change the disk between listing and reading without
    /// depending on timing.
    pub fn on_listed(hook: impl FnOnce() + Send + 'static) -> Self {
        Self {
            listed: ListedHook(Mutex::new(Some(Box::new(hook)))),
            ..Self::default()
        }
    }

    pub(crate) fn listed(&self) {
        let hook = self.listed.0.lock().ok().and_then(|mut hook| hook.take());
        if let Some(hook) = hook {
            hook();
        }
    }

    /// Asks the load to stop; files not read yet are skipped.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
        // Under the lock, so a paused thread cannot miss the wake-up between check and wait.
        let _guard = self.gate.lock();
        self.resumed.notify_all();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Whether the cancel left files out of the graph.
    pub fn was_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    /// Files done and files known so far (the total grows as dependencies are reached).
    pub fn counts(&self) -> (usize, usize) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn add_total(&self, files: usize) {
        self.total.fetch_add(files, Ordering::Relaxed);
    }

    /// Whether to skip the next file (cancelled); records that files were left out.
    pub(crate) fn skip(&self) -> bool {
        let skip = self.is_cancelled();
        if skip {
            self.interrupted.store(true, Ordering::Relaxed);
        }
        skip
    }

    pub(crate) fn file_done(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(after) = self.pause_after
            && done >= after
        {
            let Ok(mut guard) = self.gate.lock() else {
                return;
            };
            while !self.is_cancelled() {
                guard = match self.resumed.wait(guard) {
                    Ok(guard) => guard,
                    Err(_) => return,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_paused_load_resumes_on_cancel() {
        let progress = Arc::new(LoadProgress::pausing_after(2));
        progress.add_total(3);
        let worker = {
            let progress = progress.clone();
            std::thread::spawn(move || {
                let mut loaded = 0;
                for _ in 0..3 {
                    if progress.skip() {
                        continue;
                    }
                    progress.file_done();
                    loaded += 1;
                }
                loaded
            })
        };
        progress.cancel();
        let loaded = worker.join().expect("worker");
        // The cancel may land before the first file or at the pause, never after the third.
        assert!(loaded <= 2, "{loaded}");
        assert!(progress.was_interrupted());
        assert_eq!(progress.counts().1, 3);
    }
}
