//! Attached runtimes: the Node agent this binary ships, how processes that run it are found,
//! and the client side of its protocol (newline-delimited JSON-RPC 2.0 over a private socket).
//!
//! The server never runs workspace code; the agent inside the user's Node process does the
//! reloading. This module only installs the agent's files, finds and talks to running agents,
//! and computes the static half of a reload plan from the module graph.

pub mod agent_files;
pub mod client;
pub mod discovery;
pub mod facts;
pub mod plan;
pub mod protocol;
pub mod report;

pub use client::{AgentClient, AgentError};
pub use discovery::{RuntimeRecord, runtime_directory};
pub use protocol::{LoadedModule, ReloadParams, ReloadResult};

use sha2::{Digest, Sha256};

/// The content hash the agent reports for a loaded module: SHA-256 (hex) of the text without
/// a leading UTF-8 byte order mark.
pub fn content_hash(bytes: &[u8]) -> String {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let digest = Sha256::digest(body);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        use std::fmt::Write;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Loaded modules whose file on disk no longer has the content the process evaluated.
/// Files that cannot be read are left out: a reload cannot load them either.
pub fn outdated_on_disk(modules: &[LoadedModule]) -> Vec<std::path::PathBuf> {
    let mut outdated: Vec<std::path::PathBuf> = modules
        .iter()
        .filter(|m| std::fs::read(&m.path).is_ok_and(|bytes| content_hash(&bytes) != m.hash))
        .map(|m| m.path.clone())
        .collect();
    outdated.sort();
    outdated.dedup();
    outdated
}

/// V8 does not always say where a syntax error is (an ES module that fails to compile has no
/// project frame): find it by parsing the files of the failed reload.
pub fn locate_syntax_error(result: &mut protocol::ReloadResult, changed: &[std::path::PathBuf]) {
    let Some(error) = result.error.as_mut() else {
        return;
    };
    if error.file.is_some() || error.name != "SyntaxError" {
        return;
    }
    for path in changed.iter().chain(&result.attempted) {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        if let Some((offset, message)) = crate::extract::first_syntax_error(path, &text) {
            let at = crate::line_index::LineIndex::new(&text).utf16(offset);
            error.file = Some(path.clone());
            error.line = Some(at.line + 1);
            error.column = Some(at.col + 1);
            if error.message.is_empty() {
                error.message = message;
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::content_hash;

    #[test]
    fn hash_ignores_a_leading_bom_like_the_agent() {
        assert_eq!(
            content_hash(b"\xEF\xBB\xBFexport {}"),
            content_hash(b"export {}")
        );
        assert_eq!(
            content_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
