//! What attached processes hold, as plain data for the `stale-import/runtime-outdated` rule.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rustc_hash::FxHashMap;

use super::protocol::ReloadError;

/// One attached Node process.
#[derive(Debug, Clone, Default)]
pub struct AttachedRuntime {
    pub pid: u32,
    /// How the process was started, for messages (`node server.mjs`).
    pub label: String,
    /// Loaded project modules and the content hash each was evaluated from.
    pub modules: FxHashMap<PathBuf, String>,
    /// The last reload's error, until a reload succeeds.
    pub last_error: Option<ReloadError>,
}

/// Every attached process, by pid.
#[derive(Debug, Clone, Default)]
pub struct RuntimeFacts {
    pub runtimes: BTreeMap<u32, AttachedRuntime>,
}

impl RuntimeFacts {
    pub fn is_empty(&self) -> bool {
        self.runtimes.is_empty()
    }
}

/// `node server.mjs` from a process's argv (the Node binary's own path shortened).
pub fn label(argv: &[String]) -> String {
    let mut parts = Vec::new();
    for (i, arg) in argv.iter().enumerate() {
        let shown = if i == 0 || arg.starts_with('/') {
            std::path::Path::new(arg)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| arg.clone())
        } else {
            arg.clone()
        };
        parts.push(shown);
        if parts.len() == 4 {
            break;
        }
    }
    parts.join(" ")
}
