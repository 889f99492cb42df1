//! `modgraph run`: start Node with the agent, watch the workspace, and reload the affected
//! subgraph on every save instead of restarting the process.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::runtime::client::AgentNotification;
use crate::runtime::{self, AgentClient, ReloadParams, agent_files, content_hash, discovery};
use crate::workspace::{FileChange, Workspace};

pub struct RunOptions {
    pub watch: bool,
    /// Quiet time that ends a burst of saves (a single save reloads at once).
    pub debounce: Duration,
    pub root: Option<PathBuf>,
    pub command: Vec<OsString>,
}

const SCRIPT_EXTENSIONS: &[&str] = &["js", "mjs", "cjs", "ts", "mts", "cts", "jsx", "tsx"];

/// `node ARGS…` with the agent preloaded; `app.mjs ARGS…` means `node app.mjs ARGS…`.
fn node_command(
    command: &[OsString],
    agent: &agent_files::AgentFiles,
) -> Result<(OsString, Vec<OsString>)> {
    let Some(first) = command.first() else {
        bail!("nothing to run: use `modgraph run -- node app.mjs` or `modgraph run app.mjs`");
    };
    let first_path = Path::new(first);
    let is_script = first_path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| SCRIPT_EXTENSIONS.contains(&e))
        && first_path.is_file();
    let (program, rest) = if is_script {
        (OsString::from("node"), command)
    } else {
        let name = first_path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("");
        if !(name == "node" || name.starts_with("node") && !name.contains('.')) {
            bail!(
                "`modgraph run` starts Node itself: use `modgraph run -- node ARGS…` (got `{}`); \
                 for other launchers preload the agent with NODE_OPTIONS=\"--import {}\"",
                first.to_string_lossy(),
                agent.esm_entry().display()
            );
        }
        (first.clone(), &command[1..])
    };
    let mut args = vec![
        OsString::from("--import"),
        OsString::from(file_url(&agent.esm_entry())),
    ];
    args.extend(rest.iter().cloned());
    Ok((program, args))
}

fn file_url(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let mut url = String::from("file://");
    if !text.starts_with('/') {
        url.push('/');
    }
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' | b':' => {
                url.push(byte as char)
            }
            _ => url.push_str(&format!("%{byte:02X}")),
        }
    }
    url
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    if !filled {
        use std::hash::{BuildHasher, Hasher};
        for chunk in bytes.chunks_mut(8) {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            chunk.copy_from_slice(&hasher.finish().to_le_bytes()[..chunk.len()]);
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn run(options: RunOptions) -> Result<ExitCode> {
    let root = std::fs::canonicalize(options.root.as_deref().unwrap_or(Path::new(".")))
        .context("cannot read the workspace folder")?;
    let agent =
        agent_files::install().context("cannot write the runtime agent to the cache folder")?;
    let (program, args) = node_command(&options.command, &agent)?;
    let mut directory = runtime::runtime_directory();
    create_private_dir(&directory)?;
    // Unix socket paths are limited to about 104 bytes: use the temp folder for long ones.
    let longest_name = format!("run-{}-99.sock", std::process::id());
    if directory.join(longest_name).as_os_str().len() > 100 {
        directory = std::env::temp_dir().join(format!("modgraph-{}", user_id()));
        create_private_dir(&directory)?;
    }
    let socket = claim_socket(&directory, std::process::id())?;
    let token = random_token();

    let async_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    async_runtime.block_on(supervise(
        root,
        program,
        args,
        socket,
        token,
        options.watch,
        options.debounce,
    ))
}

#[cfg(unix)]
fn user_id() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[cfg(not(unix))]
fn user_id() -> u32 {
    0
}

/// Creates `directory` with mode 0700, or checks an existing one: it must be a directory of
/// the user's (see [`discovery::check_folder`]); access for others is taken away.
fn create_private_dir(directory: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(directory)
            .with_context(|| format!("cannot create {}", directory.display()))?;
        if let Err(discovery::DiscoveryError::NotPrivate { .. }) =
            discovery::check_folder(directory)
        {
            std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot make {} private", directory.display()))?;
        }
        discovery::check_folder(directory)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(directory)?;
    Ok(())
}

/// The agent's socket path in `dir`: `run-<pid>.sock`, or `run-<pid>-<n>.sock` when that is
/// taken. A socket file of the user's that nobody listens on is stale and removed; anything
/// else at the path (another process's live socket, a file, someone else's socket) is left
/// alone.
fn claim_socket(dir: &Path, pid: u32) -> Result<PathBuf> {
    for n in 0..100u32 {
        let name = if n == 0 {
            format!("run-{pid}.sock")
        } else {
            format!("run-{pid}-{n}.sock")
        };
        let path = dir.join(name);
        match socket_path_state(&path) {
            SocketPath::Free => return Ok(path),
            SocketPath::Stale => {
                std::fs::remove_file(&path).with_context(|| {
                    format!("cannot remove the stale socket {}", path.display())
                })?;
                return Ok(path);
            }
            SocketPath::Taken => continue,
        }
    }
    bail!(
        "every socket name for process {pid} in {} is taken; remove the `run-{pid}*.sock` files there",
        dir.display()
    )
}

#[derive(Debug, PartialEq, Eq)]
enum SocketPath {
    Free,
    /// A socket of the user's with nobody listening.
    Stale,
    Taken,
}

#[cfg(unix)]
fn socket_path_state(path: &Path) -> SocketPath {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    match std::fs::symlink_metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => SocketPath::Free,
        Err(_) => SocketPath::Taken,
        Ok(meta) if !meta.file_type().is_socket() || meta.uid() != user_id() => SocketPath::Taken,
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                SocketPath::Stale
            }
            _ => SocketPath::Taken,
        },
    }
}

#[cfg(not(unix))]
fn socket_path_state(path: &Path) -> SocketPath {
    if path.exists() {
        SocketPath::Taken
    } else {
        SocketPath::Free
    }
}

async fn supervise(
    root: PathBuf,
    program: OsString,
    args: Vec<OsString>,
    socket: PathBuf,
    token: String,
    watch: bool,
    debounce: Duration,
) -> Result<ExitCode> {
    // Watch before the program starts, so no save after its first output is missed.
    let (events_tx, events_rx) = mpsc::unbounded_channel::<Saved>();
    let _watcher = if watch {
        Some(watch_tree(&root, events_tx)?)
    } else {
        None
    };
    let mut child = tokio::process::Command::new(&program)
        .args(&args)
        .env("MODGRAPH_AGENT_SOCKET", &socket)
        .env("MODGRAPH_AGENT_TOKEN", &token)
        .spawn()
        .with_context(|| format!("cannot start `{}`", program.to_string_lossy()))?;
    let child_pid = child.id();
    let endpoint = format!("unix:{}", socket.display());
    let reloader = tokio::spawn(reload_loop(
        root.clone(),
        endpoint,
        token,
        debounce,
        events_rx,
    ));
    let signals = tokio::spawn(forward_signals(child_pid));

    let status = child.wait().await.context("waiting for the Node process")?;
    reloader.abort();
    signals.abort();
    let _ = std::fs::remove_file(&socket);
    Ok(exit_code(status))
}

fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    if let Some(code) = status.code() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return ExitCode::from(u8::try_from(128 + signal).unwrap_or(1));
        }
    }
    ExitCode::from(1)
}

#[cfg(unix)]
async fn forward_signals(child_pid: Option<u32>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Some(pid) = child_pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    // A terminal sends Ctrl-C to the whole foreground group, the child included: forwarding
    // it again would deliver it twice.
    // SAFETY: isatty only inspects the descriptor.
    let interactive = unsafe { libc::isatty(0) } == 1;
    let kinds = [
        (SignalKind::interrupt(), libc::SIGINT),
        (SignalKind::terminate(), libc::SIGTERM),
        (SignalKind::hangup(), libc::SIGHUP),
        (SignalKind::quit(), libc::SIGQUIT),
    ];
    let mut streams = Vec::new();
    for (kind, number) in kinds {
        if let Ok(stream) = signal(kind) {
            streams.push((stream, number));
        }
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    for (mut stream, number) in streams {
        let tx = tx.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                if tx.send(number).is_err() {
                    break;
                }
            }
        });
    }
    while let Some(number) = rx.recv().await {
        if number == libc::SIGINT && interactive {
            continue;
        }
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(pid, number) };
    }
}

#[cfg(not(unix))]
async fn forward_signals(_child_pid: Option<u32>) {}

fn is_ignored(path: &Path) -> bool {
    path.components().any(|c| {
        let name = c.as_os_str();
        name == "node_modules" || name == ".git"
    })
}

/// A saved file and when the watcher saw it (for the timings in the debug log).
struct Saved {
    path: PathBuf,
    seen: Instant,
}

/// Watches every folder of the workspace that is not ignored (one watch per folder, so
/// `node_modules` and ignored trees cost nothing), and folders that appear later.
fn watch_tree(
    root: &Path,
    events: mpsc::UnboundedSender<Saved>,
) -> Result<notify::RecommendedWatcher> {
    let watcher_cell: Arc<Mutex<Option<notify::RecommendedWatcher>>> = Arc::new(Mutex::new(None));
    let cell = Arc::clone(&watcher_cell);
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let seen = Instant::now();
        let Ok(event) = event else {
            return;
        };
        if !triggers_reload(&event.kind) {
            return;
        }
        for path in event.paths {
            if is_ignored(&path) {
                continue;
            }
            if matches!(event.kind, EventKind::Create(_)) && path.is_dir() {
                if let Ok(mut guard) = cell.lock()
                    && let Some(watcher) = guard.as_mut()
                {
                    let _ = watcher.watch(&path, RecursiveMode::NonRecursive);
                }
                continue;
            }
            let _ = events.send(Saved { path, seen });
        }
    })
    .context("cannot start the file watcher")?;
    {
        let mut guard = watcher_cell
            .lock()
            .map_err(|_| anyhow::anyhow!("watcher lock poisoned"))?;
        *guard = Some(watcher);
        if let Some(watcher) = guard.as_mut() {
            let walk = ignore::WalkBuilder::new(root)
                .filter_entry(|entry| entry.file_name() != "node_modules")
                .build();
            for entry in walk.flatten() {
                if entry.file_type().is_some_and(|t| t.is_dir()) {
                    watcher
                        .watch(entry.path(), RecursiveMode::NonRecursive)
                        .with_context(|| format!("cannot watch {}", entry.path().display()))?;
                }
            }
        }
    }
    // The watcher lives in the cell; hand it back out so the caller owns its lifetime.
    let watcher = watcher_cell
        .lock()
        .map_err(|_| anyhow::anyhow!("watcher lock poisoned"))?
        .take()
        .context("watcher missing")?;
    Ok(watcher)
}

/// On Linux a write is complete when the file is closed; renames and creations are complete
/// at once. Elsewhere there is no close event, so a modification counts.
fn triggers_reload(kind: &EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, ModifyKind};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Name(_)) => true,
        EventKind::Modify(ModifyKind::Data(_)) | EventKind::Modify(ModifyKind::Any) => {
            !cfg!(target_os = "linux")
        }
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => !cfg!(target_os = "linux"),
        EventKind::Any | EventKind::Other => false,
    }
}

async fn connect_when_ready(
    endpoint: &str,
    token: &str,
) -> Option<(AgentClient, mpsc::UnboundedReceiver<AgentNotification>)> {
    // The agent opens its endpoint while Node starts; give it up to a minute.
    let mut delay = Duration::from_millis(2);
    for _ in 0..2000 {
        match AgentClient::connect(endpoint, token).await {
            Ok(pair) => return Some(pair),
            Err(runtime::AgentError::Connect { .. }) => {}
            Err(error) => {
                eprintln!("modgraph: cannot attach to the Node process: {error}");
                return None;
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(30));
    }
    eprintln!("modgraph: the Node process never opened the agent's endpoint; reloads are off");
    None
}

async fn reload_loop(
    root: PathBuf,
    endpoint: String,
    token: String,
    debounce: Duration,
    mut events: mpsc::UnboundedReceiver<Saved>,
) {
    // The static graph loads beside the process start.
    let workspace_root = root.clone();
    let workspace = tokio::task::spawn_blocking(move || {
        Workspace::open(std::slice::from_ref(&workspace_root)).ok()
    });
    let Some((client, mut notifications)) = connect_when_ready(&endpoint, &token).await else {
        return;
    };
    let mut reloader = Reloader {
        workspace: workspace.await.ok().flatten(),
        loaded: HashMap::new(),
        unseen: HashSet::new(),
        root,
    };
    if let Ok(modules) = client.modules().await {
        reloader.note_loaded(modules);
    }
    loop {
        let mut pending: Vec<PathBuf> = Vec::new();
        let mut first_seen = None;
        tokio::select! {
            notification = notifications.recv() => match notification {
                Some(notification) => pending.extend(reloader.note(notification)),
                None => return,
            },
            event = events.recv() => {
                let Some(saved) = event else { return };
                first_seen = Some(saved.seen);
                pending.push(saved.path);
                // Take the whole burst that is already queued.
                while let Ok(saved) = events.try_recv() {
                    pending.push(saved.path);
                }
                // One save reloads at once. A burst (several files queued at once, such as the
                // rest of a checkout that arrived during the previous reload) waits until it
                // has been quiet for `debounce`, then reloads once.
                if pending.len() > 1 {
                    while let Ok(Some(saved)) = tokio::time::timeout(debounce, events.recv()).await {
                        pending.push(saved.path);
                    }
                }
            }
        }
        let mut timings = Timings::start(first_seen);
        while let Ok(notification) = notifications.try_recv() {
            pending.extend(reloader.note(notification));
        }
        let changed = reloader.changed_files(pending);
        timings.lap("hash");
        if changed.is_empty() {
            continue;
        }
        if !reloader.reload(&client, changed, &mut timings).await {
            return;
        }
    }
}

/// Where the time of one reload went, for `MODGRAPH_LOG=modgraph::cli::run=debug`: from the
/// watcher's event (`wait`: until the loop took it), then each step.
struct Timings {
    last: Instant,
    laps: Vec<(&'static str, Duration)>,
    /// When the watcher saw the save, on the system's monotonic clock (microseconds), so a
    /// benchmark can line it up with the time of its write.
    seen_at_us: Option<u64>,
}

impl Timings {
    fn start(seen: Option<Instant>) -> Self {
        let now = Instant::now();
        let mut laps = Vec::new();
        let mut seen_at_us = None;
        if let Some(seen) = seen {
            let wait = now.saturating_duration_since(seen);
            laps.push(("wait", wait));
            seen_at_us = monotonic_us()
                .map(|now_us| now_us.saturating_sub(u64::try_from(wait.as_micros()).unwrap_or(0)));
        }
        Self {
            last: now,
            laps,
            seen_at_us,
        }
    }

    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.laps.push((name, now - self.last));
        self.last = now;
    }

    fn finish(&self, agent_ms: f64) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let laps: Vec<String> = self
            .laps
            .iter()
            .map(|(name, took)| format!("{name} {:.3}", took.as_secs_f64() * 1000.0))
            .collect();
        let seen = self
            .seen_at_us
            .map(|us| format!("; seen at {us} us"))
            .unwrap_or_default();
        tracing::debug!(
            "reload timings (ms): {}; agent {agent_ms:.3}{seen}",
            laps.join(", ")
        );
    }
}

#[cfg(unix)]
fn monotonic_us() -> Option<u64> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) } != 0 {
        return None;
    }
    let secs = u64::try_from(now.tv_sec).ok()?;
    let nanos = u64::try_from(now.tv_nsec).ok()?;
    Some(secs * 1_000_000 + nanos / 1000)
}

#[cfg(not(unix))]
fn monotonic_us() -> Option<u64> {
    None
}

/// What `modgraph run` knows of the process: the static graph, what the process loaded, and
/// saved files it has not heard of yet.
struct Reloader {
    workspace: Option<Workspace>,
    /// Loaded file → the content hash the process evaluated (or the last one tried).
    loaded: HashMap<PathBuf, String>,
    /// Saved files the process had not reported as loaded when they changed: a file loaded for
    /// the first time a moment before its save is reloaded once the process reports it.
    unseen: HashSet<PathBuf>,
    root: PathBuf,
}

/// At most this many unseen saved files are remembered (most saves are of files never loaded).
const UNSEEN_LIMIT: usize = 10_000;

impl Reloader {
    /// Takes in a notification; returns files that changed before the process reported them.
    fn note(&mut self, notification: AgentNotification) -> Vec<PathBuf> {
        match notification {
            AgentNotification::ModulesLoaded(modules) => self.note_loaded(modules),
            AgentNotification::ReloadFinished(result) => {
                eprintln!(
                    "modgraph: (requested by another client) {}",
                    runtime::report::describe(&result, &self.root)
                );
                Vec::new()
            }
        }
    }

    fn note_loaded(&mut self, modules: Vec<runtime::LoadedModule>) -> Vec<PathBuf> {
        let mut late = Vec::new();
        for module in modules {
            if self.unseen.remove(&module.path)
                && std::fs::read(&module.path)
                    .is_ok_and(|bytes| content_hash(&bytes) != module.hash)
            {
                late.push(module.path.clone());
            }
            self.loaded.insert(module.path, module.hash);
        }
        late
    }

    /// Loaded files whose content differs from what the process evaluated (or last tried). The
    /// same content is not tried twice: a failed version waits for the next edit.
    fn changed_files(&mut self, paths: Vec<PathBuf>) -> Vec<PathBuf> {
        let mut changed = Vec::new();
        for path in paths {
            let Some(known) = self.loaded.get_mut(&path) else {
                if self.unseen.len() >= UNSEEN_LIMIT {
                    self.unseen.clear();
                }
                self.unseen.insert(path);
                continue;
            };
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let hash = content_hash(&bytes);
            if *known != hash {
                *known = hash;
                if !changed.contains(&path) {
                    changed.push(path);
                }
            }
        }
        changed
    }

    /// Sends one reload and prints its line. `false` when the process has gone.
    async fn reload(
        &mut self,
        client: &AgentClient,
        changed: Vec<PathBuf>,
        timings: &mut Timings,
    ) -> bool {
        if let Some(ws) = self.workspace.as_mut() {
            for path in &changed {
                ws.apply(FileChange::Changed(path.clone()));
            }
        }
        timings.lap("graph");
        let params = match &self.workspace {
            Some(ws) => runtime::plan::reload_params(ws.graph(), &changed),
            None => ReloadParams {
                changed: changed.clone(),
                ..ReloadParams::default()
            },
        };
        timings.lap("plan");
        let answer = client.reload(&params).await;
        timings.lap("request");
        if let Ok(result) = &answer {
            timings.finish(result.duration_ms);
        }
        match answer {
            Ok(mut result) => {
                runtime::locate_syntax_error(&mut result, &changed);
                eprintln!(
                    "modgraph: {}",
                    runtime::report::describe(&result, &self.root)
                );
                true
            }
            Err(error) => {
                eprintln!("modgraph: reload failed: {error}");
                !matches!(error, runtime::AgentError::Closed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_socket_path_that_is_taken_is_left_alone_and_a_stale_one_is_reused() {
        use std::os::unix::net::{UnixListener, UnixStream};
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(
            claim_socket(dir.path(), 7).expect("free"),
            dir.path().join("run-7.sock")
        );

        // Another process listens at the path: it keeps its socket, we take the next name.
        let live = dir.path().join("run-7.sock");
        let listener = UnixListener::bind(&live).expect("bind");
        let claimed = claim_socket(dir.path(), 7).expect("next name");
        assert_eq!(claimed, dir.path().join("run-7-1.sock"));
        listener.set_nonblocking(true).expect("nonblocking");
        while listener.accept().is_ok() {} // the probe
        UnixStream::connect(&live).expect("the other process's socket still works");
        assert!(listener.accept().is_ok());

        // A socket left behind with nobody listening is stale: removed and reused.
        let stale = dir.path().join("run-8.sock");
        drop(UnixListener::bind(&stale).expect("bind"));
        assert!(stale.exists());
        assert_eq!(claim_socket(dir.path(), 8).expect("stale"), stale);
        assert!(!stale.exists());

        // Something that is not a socket is not ours to delete.
        let file = dir.path().join("run-9.sock");
        std::fs::write(&file, "data").expect("write");
        assert_eq!(
            claim_socket(dir.path(), 9).expect("next name"),
            dir.path().join("run-9-1.sock")
        );
        assert_eq!(std::fs::read_to_string(&file).expect("kept"), "data");
    }

    #[cfg(unix)]
    #[test]
    fn the_runtime_folder_is_made_private_and_a_foreign_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().expect("temp dir");
        let dir = parent.path().join("modgraph");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        create_private_dir(&dir).expect("ours");
        let mode = std::fs::metadata(&dir).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);

        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped the foreign folder: giving a folder to another user needs root");
            return;
        }
        let c_path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::chown(c_path.as_ptr(), 65534, 65534) }, 0);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let error = create_private_dir(&dir).expect_err("someone else's folder");
        assert!(
            error.to_string().contains("belongs to user 65534"),
            "{error}"
        );
        let mode = std::fs::metadata(&dir).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o777, "a folder of someone else's is not touched");
    }

    #[test]
    fn scripts_run_with_node_and_the_agent_preloaded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = dir.path().join("app.mjs");
        std::fs::write(&script, "").expect("write");
        let agent = agent_files::AgentFiles {
            dir: PathBuf::from("/cache/agent x"),
        };
        let (program, args) = node_command(
            &[script.clone().into_os_string(), "--port=1".into()],
            &agent,
        )
        .expect("command");
        assert_eq!(program, "node");
        assert_eq!(args[0], "--import");
        assert_eq!(args[1], "file:///cache/agent%20x/agent.mjs");
        assert_eq!(args[2], script.as_os_str());
        let (program, args) =
            node_command(&["node".into(), "app.mjs".into()], &agent).expect("command");
        assert_eq!(program, "node");
        assert_eq!(args.len(), 3);
        assert!(node_command(&["npm".into(), "start".into()], &agent).is_err());
        assert!(node_command(&[], &agent).is_err());
    }
}
