//! `modgraph.json`: rule severities, extra ignore globs, extra resolver conditions. The same keys
//! arrive as LSP settings. Unknown keys and bad values are errors that name the key.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::diagnostic::Severity;

pub const CONFIG_FILE: &str = "modgraph.json";

/// A rule's configured level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleLevel {
    Off,
    Error,
    Warning,
    Info,
    Hint,
}

impl RuleLevel {
    pub fn severity(self) -> Option<Severity> {
        match self {
            RuleLevel::Off => None,
            RuleLevel::Error => Some(Severity::Error),
            RuleLevel::Warning => Some(Severity::Warning),
            RuleLevel::Info => Some(Severity::Info),
            RuleLevel::Hint => Some(Severity::Hint),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Rule code → level. Codes are checked against the known rules.
    #[serde(default)]
    pub rules: BTreeMap<String, RuleLevel>,
    /// Extra gitignore-style globs of paths that are not workspace modules.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Extra resolver conditions (e.g. `"development"`), added to `node` + `import`/`require`.
    #[serde(default)]
    pub conditions: Vec<String>,
    /// At most this many workspace source files are indexed (default 200,000).
    #[serde(default, rename = "maxFiles")]
    pub max_files: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message} (see the configuration section of README.md)")]
    Invalid { path: String, message: String },
    #[error("{path}: unknown rule {code:?} under \"rules\"; known rules: {known}")]
    UnknownRule {
        path: String,
        code: String,
        known: String,
    },
    #[error("{path}: invalid ignore glob {glob:?}: {message}")]
    BadGlob {
        path: String,
        glob: String,
        message: String,
    },
}

impl Config {
    /// Reads `modgraph.json` from `root`; no file means the defaults.
    pub fn load(root: &Path) -> Result<Self, ConfigError> {
        let path = root.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Config = serde_json::from_str(text).map_err(|e| ConfigError::Invalid {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        for code in self.rules.keys() {
            if crate::rules::rule(code).is_none() {
                let known: Vec<&str> = crate::rules::all().iter().map(|r| r.meta().code).collect();
                return Err(ConfigError::UnknownRule {
                    path: origin.to_string(),
                    code: code.clone(),
                    known: known.join(", "),
                });
            }
        }
        for glob in &self.ignore {
            if let Err(e) = globset::Glob::new(glob) {
                return Err(ConfigError::BadGlob {
                    path: origin.to_string(),
                    glob: glob.clone(),
                    message: e.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The severity a rule reports with, or `None` when it is off.
    pub fn severity(&self, code: &str, default: Option<Severity>) -> Option<Severity> {
        match self.rules.get(code) {
            Some(level) => level.severity(),
            None => default,
        }
    }
}
