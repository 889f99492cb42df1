//! Work-done progress of indexing (`$/progress`), cancellable by the client. The loop starts and
//! ends each index with a plain [`LoadProgress`] handle; a task of its own turns the handle's
//! counters into throttled reports, so the loop never waits for the client.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustc_hash::FxHashMap;
use tokio::sync::{mpsc, watch};
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::{NumberOrString, ProgressToken};

use crate::workspace::LoadProgress;

/// At most one report this often (a large workspace is thousands of files a second).
const REPORT_EVERY: Duration = Duration::from_millis(200);

/// Test knob: hold indexing after this many files until the client cancels it, so that tests
/// cancel in the middle of an index without depending on timing.
const PAUSE_VARIABLE: &str = "MODGRAPH_TEST_PAUSE_INDEX_AFTER";

enum Message {
    Begin {
        token: String,
        title: String,
        load: Arc<LoadProgress>,
    },
    End {
        message: String,
    },
}

/// Loads that can still be cancelled, by token.
#[derive(Clone, Default)]
pub struct Cancels(Arc<Mutex<FxHashMap<String, Arc<LoadProgress>>>>);

impl Cancels {
    /// `window/workDoneProgress/cancel`: stops the load of that token, if it is still going.
    pub fn cancel(&self, token: &ProgressToken) {
        let NumberOrString::String(token) = token else {
            return;
        };
        let load = self.0.lock().ok().and_then(|live| live.get(token).cloned());
        if let Some(load) = load {
            tracing::info!("indexing cancelled by the client ({token})");
            load.cancel();
        }
    }
}

/// The loop's side: starts and ends indexes.
pub struct Progress {
    tx: mpsc::UnboundedSender<Message>,
    cancels: Cancels,
    next: u64,
    pause_after: Option<usize>,
}

/// One index under way.
pub struct Task {
    token: String,
    pub load: Arc<LoadProgress>,
}

impl Progress {
    /// Starts the reporting task. `enabled`: the client offered `window.workDoneProgress`;
    /// `initialized` turns true once the client may receive requests.
    pub fn start(
        client: Client,
        enabled: bool,
        initialized: watch::Receiver<bool>,
        cancels: Cancels,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(report(client, rx, enabled, initialized));
        Self {
            tx,
            cancels,
            next: 0,
            pause_after: std::env::var(PAUSE_VARIABLE)
                .ok()
                .and_then(|v| v.parse().ok()),
        }
    }

    pub fn begin(&mut self, title: &str) -> Task {
        self.next += 1;
        let token = format!("modgraph/index/{}", self.next);
        let load = Arc::new(match self.pause_after {
            Some(files) => LoadProgress::pausing_after(files),
            None => LoadProgress::new(),
        });
        if let Ok(mut live) = self.cancels.0.lock() {
            live.insert(token.clone(), load.clone());
        }
        let _ = self.tx.send(Message::Begin {
            token: token.clone(),
            title: title.into(),
            load: load.clone(),
        });
        Task { token, load }
    }

    pub fn end(&self, task: Task, message: String) {
        if let Ok(mut live) = self.cancels.0.lock() {
            live.remove(&task.token);
        }
        let _ = self.tx.send(Message::End { message });
    }
}

fn counts_message(done: usize, total: usize) -> String {
    format!("{done}/{total} files")
}

/// Sends the progress of one index at a time: create, begin, throttled reports, end.
async fn report(
    client: Client,
    mut rx: mpsc::UnboundedReceiver<Message>,
    enabled: bool,
    mut initialized: watch::Receiver<bool>,
) {
    let mut next = None;
    loop {
        let message = match next.take() {
            Some(message) => message,
            None => match rx.recv().await {
                Some(message) => message,
                None => return,
            },
        };
        let Message::Begin { token, title, load } = message else {
            continue; // An end whose begin was not reported.
        };
        let ongoing = if enabled && initialized.wait_for(|ready| *ready).await.is_ok() {
            let token = NumberOrString::String(token);
            match client.create_work_done_progress(token.clone()).await {
                Ok(()) => Some(
                    client
                        .progress(token, title)
                        .with_percentage(0)
                        .with_cancel_button()
                        .begin()
                        .await,
                ),
                Err(error) => {
                    tracing::info!("the client refused a progress token: {error}");
                    None
                }
            }
        } else {
            None
        };
        // Reports only when something moved; the percentage never goes back although the total
        // grows as dependencies are reached.
        let mut sent = (0, 0);
        let mut percentage = 0;
        let mut tick = tokio::time::interval(REPORT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let end = loop {
            let report_now = tokio::select! {
                message = rx.recv() => match message {
                    Some(Message::End { message }) => break Some(message),
                    Some(begin) => {
                        // A new index before this one ended (not expected): end this one.
                        next = Some(begin);
                        break None;
                    }
                    None => break None,
                },
                _ = tick.tick() => true,
            };
            let counts = load.counts();
            if report_now
                && let Some(ongoing) = &ongoing
                && counts != sent
            {
                sent = counts;
                let (done, total) = counts;
                percentage = percentage.max(percent(done, total));
                ongoing
                    .report_with_message(counts_message(done, total), percentage, None)
                    .await;
            }
        };
        if let Some(ongoing) = ongoing {
            let (done, total) = load.counts();
            if (done, total) != sent {
                let at = percentage.max(percent(done, total));
                ongoing
                    .report_with_message(counts_message(done, total), at, None)
                    .await;
            }
            ongoing.finish_with_message(end.unwrap_or_default()).await;
        }
    }
}

fn percent(done: usize, total: usize) -> u32 {
    if total == 0 {
        return 0;
    }
    (done.min(total) * 100 / total) as u32
}
