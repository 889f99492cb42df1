//! The agent's JavaScript files, compiled into the binary and written to a cache folder on
//! first use, so a Node process can preload them without any npm install.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const FILES: &[(&str, &str)] = &[
    ("agent.cjs", include_str!("agent/agent.cjs")),
    ("agent.mjs", include_str!("agent/agent.mjs")),
    ("hooks-core.cjs", include_str!("agent/hooks-core.cjs")),
    ("hooks.mjs", include_str!("agent/hooks.mjs")),
    ("worker.mjs", include_str!("agent/worker.mjs")),
];

/// Paths of an installed agent.
#[derive(Debug, Clone)]
pub struct AgentFiles {
    pub dir: PathBuf,
}

impl AgentFiles {
    /// The ES module entry for `node --import`.
    pub fn esm_entry(&self) -> PathBuf {
        self.dir.join("agent.mjs")
    }

    /// The CommonJS entry for `node --require`.
    pub fn cjs_entry(&self) -> PathBuf {
        self.dir.join("agent.cjs")
    }
}

/// Where the agent goes: a folder named after the content, so versions never mix.
fn install_dir(cache: &Path) -> PathBuf {
    let mut hasher = Sha256::new();
    for (name, text) in FILES {
        hasher.update(name.as_bytes());
        hasher.update(text.as_bytes());
    }
    let digest = hasher.finalize();
    let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    cache.join(format!("agent-{}-{short}", env!("CARGO_PKG_VERSION")))
}

fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("MODGRAPH_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("modgraph");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".cache").join("modgraph");
    }
    std::env::temp_dir().join("modgraph-cache")
}

/// Writes the agent's files unless an identical copy is already there.
pub fn install() -> std::io::Result<AgentFiles> {
    install_into(&cache_root())
}

pub fn install_into(cache: &Path) -> std::io::Result<AgentFiles> {
    let dir = install_dir(cache);
    fs::create_dir_all(&dir)?;
    for (name, text) in FILES {
        let path = dir.join(name);
        if fs::read(&path).is_ok_and(|existing| existing == text.as_bytes()) {
            continue;
        }
        // Write then rename: a Node process starting at the same time never sees half a file.
        let mut temporary = tempfile_in(&dir, name)?;
        temporary.1.write_all(text.as_bytes())?;
        temporary.1.sync_all()?;
        drop(temporary.1);
        fs::rename(&temporary.0, &path)?;
    }
    Ok(AgentFiles { dir })
}

fn tempfile_in(dir: &Path, name: &str) -> std::io::Result<(PathBuf, fs::File)> {
    let path = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let file = fs::File::create(&path)?;
    Ok((path, file))
}

#[cfg(test)]
mod tests {
    #[test]
    fn install_is_idempotent_and_complete() {
        let cache = tempfile::tempdir().expect("temp dir");
        let first = super::install_into(cache.path()).expect("install");
        let second = super::install_into(cache.path()).expect("install again");
        assert_eq!(first.dir, second.dir);
        for (name, text) in super::FILES {
            let written = std::fs::read_to_string(first.dir.join(name)).expect("agent file");
            assert_eq!(&written, text);
        }
        assert!(first.esm_entry().is_file());
    }
}
