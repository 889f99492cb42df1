//! Finding running agents: each writes `<pid>.json` into a private per-user folder
//! (`$XDG_RUNTIME_DIR/modgraph`, else `<tmp>/modgraph-<uid>`) and removes it on exit.
//!
//! Clients trust only what the user owns: the folder must be a directory of the user's with no
//! access for others (else [`DiscoveryError`]), records and sockets that belong to someone else
//! are skipped (never deleted, never connected to), and records whose process is gone, or whose
//! socket is missing or has nobody listening, are stale and removed.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// The discovery folder cannot be trusted or read.
#[derive(Debug, Error)]
pub enum DiscoveryError {
    #[error(
        "{path} is not a plain directory (a file or a link); remove it so that the modgraph agent can create its private folder there"
    )]
    NotADirectory { path: PathBuf },
    #[error(
        "{path} belongs to user {owner}, not to you (user {me}); remove it, or set XDG_RUNTIME_DIR to a folder of your own"
    )]
    ForeignOwner { path: PathBuf, owner: u32, me: u32 },
    #[error(
        "{path} is open to other users (mode {mode:o}); make it private with `chmod 700 {path}`"
    )]
    NotPrivate { path: PathBuf, mode: u32 },
    #[error("cannot read {path}: {source}; check its permissions")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A discovery record as the agent writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeRecord {
    pub pid: u32,
    pub cwd: PathBuf,
    #[serde(default)]
    pub argv: Vec<String>,
    #[serde(default)]
    pub node: String,
    pub endpoint: String,
    pub token: String,
    #[serde(default)]
    pub protocol: u32,
}

/// The folder agents publish themselves in (the same rule as the agent's).
pub fn runtime_directory() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("modgraph");
    }
    std::env::temp_dir().join(format!("modgraph-{}", user_id()))
}

#[cfg(unix)]
fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[cfg(unix)]
fn user_id() -> String {
    current_uid().to_string()
}

#[cfg(not(unix))]
fn user_id() -> String {
    "user".to_owned()
}

#[cfg(unix)]
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
pub fn process_alive(_pid: u32) -> bool {
    true
}

/// Checks that `dir` is a folder that only the current user can use: a real directory (not a
/// link), owned by the user, with no permission bits for group or others. `Ok(false)` when it
/// does not exist (no agent has run yet).
pub fn check_folder(dir: &Path) -> Result<bool, DiscoveryError> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(DiscoveryError::Read {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    if !meta.is_dir() {
        return Err(DiscoveryError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = current_uid();
        if meta.uid() != me {
            return Err(DiscoveryError::ForeignOwner {
                path: dir.to_path_buf(),
                owner: meta.uid(),
                me,
            });
        }
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(DiscoveryError::NotPrivate {
                path: dir.to_path_buf(),
                mode,
            });
        }
    }
    Ok(true)
}

#[cfg(unix)]
fn owned_by_me(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.uid() == current_uid()
}

#[cfg(not(unix))]
fn owned_by_me(_meta: &fs::Metadata) -> bool {
    true
}

/// What a record's endpoint looks like from here, without talking to it.
#[derive(Debug, PartialEq, Eq)]
enum Endpoint {
    /// Someone listens (or it is not a Unix socket: the connection will tell).
    Live,
    /// The socket file is missing, or nobody listens on it: the record is stale.
    Stale,
    /// The path is not a socket of this user: never connect, never delete.
    Foreign,
}

#[cfg(unix)]
fn endpoint_state(endpoint: &str) -> Endpoint {
    use std::os::unix::fs::FileTypeExt;
    let Some(socket) = endpoint.strip_prefix("unix:") else {
        return Endpoint::Live;
    };
    match fs::symlink_metadata(socket) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Endpoint::Stale,
        Err(_) => Endpoint::Foreign,
        Ok(meta) if !meta.file_type().is_socket() || !owned_by_me(&meta) => Endpoint::Foreign,
        // A connection without `hello` is closed by the agent and changes nothing there.
        Ok(_) => match std::os::unix::net::UnixStream::connect(socket) {
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => Endpoint::Stale,
            _ => Endpoint::Live,
        },
    }
}

#[cfg(not(unix))]
fn endpoint_state(_endpoint: &str) -> Endpoint {
    Endpoint::Live
}

/// Removes a stale record and its socket (only a socket of this user's).
fn remove_stale(record_path: &Path, record: &RuntimeRecord) {
    let _ = fs::remove_file(record_path);
    let Some(socket) = record.endpoint.strip_prefix("unix:") else {
        return;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if fs::symlink_metadata(socket)
            .is_ok_and(|meta| meta.file_type().is_socket() && owned_by_me(&meta))
        {
            let _ = fs::remove_file(socket);
        }
    }
    #[cfg(not(unix))]
    let _ = socket;
}

/// Live records in `dir`, which must be private to the user (see [`check_folder`]). Stale
/// records (the process is gone, or its socket is missing or refuses connections) are deleted
/// with their sockets; files that are not records, not readable, or not the user's own are
/// skipped and left alone.
pub fn live_records(dir: &Path) -> Result<Vec<RuntimeRecord>, DiscoveryError> {
    if !check_folder(dir)? {
        return Ok(Vec::new());
    }
    let entries = fs::read_dir(dir).map_err(|source| DiscoveryError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut records = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() || !owned_by_me(&meta) {
            tracing::debug!("skipping {}: not a file of this user", path.display());
            continue;
        }
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let Ok(record) = serde_json::from_str::<RuntimeRecord>(&text) else {
            continue;
        };
        if !process_alive(record.pid) {
            remove_stale(&path, &record);
            continue;
        }
        match endpoint_state(&record.endpoint) {
            Endpoint::Live => records.push(record),
            Endpoint::Stale => remove_stale(&path, &record),
            Endpoint::Foreign => {
                tracing::debug!(
                    "skipping {}: its endpoint is not a socket of this user",
                    path.display()
                );
            }
        }
    }
    records.sort_by_key(|r| r.pid);
    Ok(records)
}

/// Live records of processes whose working directory is inside one of `roots`.
pub fn records_within(dir: &Path, roots: &[PathBuf]) -> Result<Vec<RuntimeRecord>, DiscoveryError> {
    Ok(live_records(dir)?
        .into_iter()
        .filter(|record| {
            let cwd = fs::canonicalize(&record.cwd).unwrap_or_else(|_| record.cwd.clone());
            roots.iter().any(|root| cwd.starts_with(root))
        })
        .collect())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixListener;

    /// `nobody` on most systems; any uid other than ours will do.
    const STRANGER: u32 = 65534;

    fn record(pid: u32, socket: &Path) -> String {
        format!(
            r#"{{"pid":{pid},"cwd":"/w","endpoint":"unix:{}","token":"t","protocol":1}}"#,
            socket.display()
        )
    }

    /// Whether `listener` has a connection waiting (someone connected since the last call).
    fn was_connected(listener: &UnixListener) -> bool {
        listener.set_nonblocking(true).expect("nonblocking");
        match listener.accept() {
            Ok(_) => true,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(error) => panic!("accept: {error}"),
        }
    }

    /// A temporary discovery folder as the agent makes it: mode 0700.
    fn private_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
        dir
    }

    fn chown(path: &Path, uid: u32) -> bool {
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path; -1 keeps the group.
        unsafe { libc::lchown(c_path.as_ptr(), uid, u32::MAX) == 0 }
    }

    #[test]
    fn dead_records_are_removed_and_garbage_is_skipped() {
        let dir = private_dir();
        let me = std::process::id();
        let socket = dir.path().join("live.sock");
        let listener = UnixListener::bind(&socket).expect("bind");
        fs::write(dir.path().join(format!("{me}.json")), record(me, &socket)).expect("write");
        // pid_max on Linux is at most 2^22: this pid cannot exist.
        let dead_socket = dir.path().join("dead.sock");
        drop(UnixListener::bind(&dead_socket).expect("bind"));
        fs::write(
            dir.path().join("4194305.json"),
            record(4194305, &dead_socket),
        )
        .expect("write");
        fs::write(dir.path().join("junk.json"), "{not json").expect("write");
        let records = live_records(dir.path()).expect("private folder");
        assert_eq!(records.iter().map(|r| r.pid).collect::<Vec<_>>(), vec![me]);
        assert!(was_connected(&listener), "the live socket was probed");
        assert!(!dir.path().join("4194305.json").exists());
        assert!(
            !dead_socket.exists(),
            "the dead process's socket is removed"
        );
        assert!(dir.path().join("junk.json").exists());
        let within = records_within(dir.path(), &[PathBuf::from("/w")]).expect("folder");
        assert_eq!(within.len(), 1);
        let elsewhere = records_within(dir.path(), &[PathBuf::from("/elsewhere")]).expect("folder");
        assert!(elsewhere.is_empty());
    }

    #[test]
    fn records_of_a_live_pid_without_a_listening_socket_are_stale() {
        let dir = private_dir();
        let me = std::process::id();
        // The pid is alive (it is ours, as if reused), but the socket is gone...
        let missing = dir.path().join("missing.sock");
        fs::write(dir.path().join("a.json"), record(me, &missing)).expect("write");
        // ...or left behind with nobody listening.
        let orphan = dir.path().join("orphan.sock");
        drop(UnixListener::bind(&orphan).expect("bind"));
        assert!(orphan.exists());
        fs::write(dir.path().join("b.json"), record(me, &orphan)).expect("write");
        assert!(live_records(dir.path()).expect("folder").is_empty());
        assert!(!dir.path().join("a.json").exists());
        assert!(!dir.path().join("b.json").exists());
        assert!(!orphan.exists(), "the orphaned socket is removed");
    }

    #[test]
    fn records_and_sockets_of_other_users_are_ignored_never_deleted_nor_connected_to() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: giving files to another user needs root");
            return;
        }
        let dir = private_dir();
        let me = std::process::id();
        let socket = dir.path().join("live.sock");
        let listener = UnixListener::bind(&socket).expect("bind");

        // A record of another user's, of a live process, naming our live socket.
        let foreign = dir.path().join("foreign.json");
        fs::write(&foreign, record(me, &socket)).expect("write");
        assert!(chown(&foreign, STRANGER));
        // A record of another user's whose process is gone.
        let foreign_dead = dir.path().join("foreign-dead.json");
        fs::write(&foreign_dead, record(4194305, &socket)).expect("write");
        assert!(chown(&foreign_dead, STRANGER));
        // Our own record, naming a socket that belongs to another user.
        let their_socket = dir.path().join("theirs.sock");
        let their_listener = UnixListener::bind(&their_socket).expect("bind");
        assert!(chown(&their_socket, STRANGER));
        let ours = dir.path().join("ours.json");
        fs::write(&ours, record(me, &their_socket)).expect("write");
        // A link to a record elsewhere.
        let elsewhere = tempfile::tempdir().expect("temp dir");
        fs::write(elsewhere.path().join("r.json"), record(me, &socket)).expect("write");
        std::os::unix::fs::symlink(elsewhere.path().join("r.json"), dir.path().join("l.json"))
            .expect("symlink");

        let records = live_records(dir.path()).expect("private folder");
        assert!(records.is_empty(), "{records:?}");
        for file in [&foreign, &foreign_dead, &ours, &their_socket] {
            assert!(file.exists(), "{} was left alone", file.display());
        }
        assert!(
            !was_connected(&listener),
            "a foreign record led to a connection"
        );
        assert!(
            !was_connected(&their_listener),
            "a foreign socket was connected to"
        );

        // The same record owned by us is found (so the checks above can fail).
        assert!(chown(&foreign, 0));
        let records = live_records(dir.path()).expect("private folder");
        assert_eq!(records.len(), 1);
        assert!(was_connected(&listener));
    }

    #[test]
    fn the_folder_must_be_a_private_directory_of_the_user() {
        let parent = tempfile::tempdir().expect("temp dir");
        let dir = parent.path().join("modgraph");
        assert!(live_records(&dir).expect("missing is empty").is_empty());

        fs::create_dir(&dir).expect("mkdir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod");
        assert!(check_folder(&dir).expect("private"));

        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        let error = live_records(&dir).expect_err("open to others");
        assert!(matches!(
            error,
            DiscoveryError::NotPrivate { mode: 0o755, .. }
        ));
        assert!(error.to_string().contains("chmod 700"), "{error}");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod");

        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert!(chown(&dir, STRANGER));
            let error = live_records(&dir).expect_err("someone else's");
            assert!(
                matches!(
                    error,
                    DiscoveryError::ForeignOwner {
                        owner: STRANGER,
                        ..
                    }
                ),
                "{error}"
            );
            assert!(chown(&dir, 0));
        } else {
            eprintln!("skipped the foreign owner: giving a folder to another user needs root");
        }

        let link = parent.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).expect("symlink");
        let error = live_records(&link).expect_err("a link");
        assert!(
            matches!(error, DiscoveryError::NotADirectory { .. }),
            "{error}"
        );
        let file = parent.path().join("file");
        fs::write(&file, "").expect("write");
        let error = live_records(&file).expect_err("a file");
        assert!(
            matches!(error, DiscoveryError::NotADirectory { .. }),
            "{error}"
        );
    }
}
