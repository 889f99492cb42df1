//! Messages of the agent protocol, version 1 (docs/runtime-protocol.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub const PROTOCOL_VERSION: u32 = 1;

/// The answer to `hello`: who the process is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessInfo {
    pub protocol: u32,
    pub pid: u32,
    pub cwd: PathBuf,
    #[serde(default)]
    pub argv: Vec<String>,
    #[serde(default)]
    pub node: String,
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub esm_hooks: String,
    #[serde(default)]
    pub modules: usize,
}

/// One project module the process has loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedModule {
    pub path: PathBuf,
    /// `esm` or `cjs`.
    pub format: String,
    /// [`super::content_hash`] of the source it evaluated.
    pub hash: String,
    /// Loaded in a `modgraph/worker` thread rather than the main thread.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub worker: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModuleList {
    pub modules: Vec<LoadedModule>,
}

/// `reload` parameters: the changed files, and the importers the static graph knows for the
/// files of the reload subgraph (the agent adds what the process itself recorded).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadParams {
    pub changed: Vec<PathBuf>,
    pub importers: BTreeMap<PathBuf, Vec<PathBuf>>,
}

/// Where a reload failed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReloadError {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub stack: String,
    #[serde(default)]
    pub file: Option<PathBuf>,
    #[serde(default)]
    pub line: Option<u32>,
    #[serde(default)]
    pub column: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerSwap {
    pub ok: bool,
    #[serde(default)]
    pub module: String,
    #[serde(default)]
    pub error: Option<ReloadError>,
}

/// The answer to `reload` (also broadcast as `reload/finished`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReloadResult {
    pub ok: bool,
    #[serde(default)]
    pub reloaded: Vec<PathBuf>,
    /// Entry points that ran again because nothing between them and the change accepts it.
    #[serde(default)]
    pub entries: Vec<PathBuf>,
    /// Modules that accepted the update (`hot.accept`).
    #[serde(default)]
    pub boundaries: Vec<PathBuf>,
    /// The modules that would have been reloaded when the reload failed.
    #[serde(default)]
    pub attempted: Vec<PathBuf>,
    #[serde(default)]
    pub error: Option<ReloadError>,
    #[serde(default)]
    pub callback_errors: Vec<ReloadError>,
    #[serde(default)]
    pub workers: Vec<WorkerSwap>,
    #[serde(default)]
    pub duration_ms: f64,
    /// Superseded ES module instances the process keeps (V8 cannot free them).
    #[serde(default)]
    pub esm_instances_retained: u64,
}
