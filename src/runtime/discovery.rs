//! Finding running agents: each writes `<pid>.json` into a private per-user folder
//! (`$XDG_RUNTIME_DIR/modgraph`, else `<tmp>/modgraph-<uid>`) and removes it on exit.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
fn user_id() -> String {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }.to_string()
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

/// Live records in `dir`. Records of processes that are gone are deleted, with their sockets;
/// unreadable or foreign files are skipped.
pub fn live_records(dir: &Path) -> Vec<RuntimeRecord> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut records = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let Ok(record) = serde_json::from_str::<RuntimeRecord>(&text) else {
            continue;
        };
        if !process_alive(record.pid) {
            let _ = fs::remove_file(&path);
            if let Some(socket) = record.endpoint.strip_prefix("unix:") {
                let _ = fs::remove_file(socket);
            }
            continue;
        }
        records.push(record);
    }
    records.sort_by_key(|r| r.pid);
    records
}

/// Live records of processes whose working directory is inside one of `roots`.
pub fn records_within(dir: &Path, roots: &[PathBuf]) -> Vec<RuntimeRecord> {
    live_records(dir)
        .into_iter()
        .filter(|record| {
            let cwd = fs::canonicalize(&record.cwd).unwrap_or_else(|_| record.cwd.clone());
            roots.iter().any(|root| cwd.starts_with(root))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_records_are_removed_and_garbage_is_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let me = std::process::id();
        let alive = format!(
            r#"{{"pid":{me},"cwd":"/w","endpoint":"unix:/x.sock","token":"t","protocol":1}}"#
        );
        fs::write(dir.path().join(format!("{me}.json")), alive).expect("write");
        // pid_max on Linux is at most 2^22: this pid cannot exist.
        let dead = r#"{"pid":4194305,"cwd":"/w","endpoint":"unix:/nowhere.sock","token":"t"}"#;
        fs::write(dir.path().join("4194305.json"), dead).expect("write");
        fs::write(dir.path().join("junk.json"), "{not json").expect("write");
        let records = live_records(dir.path());
        assert_eq!(records.iter().map(|r| r.pid).collect::<Vec<_>>(), vec![me]);
        assert!(!dir.path().join("4194305.json").exists());
        assert!(dir.path().join("junk.json").exists());
        assert_eq!(records_within(dir.path(), &[PathBuf::from("/w")]).len(), 1);
        assert!(records_within(dir.path(), &[PathBuf::from("/elsewhere")]).is_empty());
    }
}
