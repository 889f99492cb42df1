//! Diagnostics as plain data: byte spans in files named by [`FileId`]. Output layers (CLI, LSP)
//! turn them into lines and columns.

use serde::Serialize;

use crate::extract::Span;
use crate::graph::FileId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
    Hint,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::Hint => "hint",
        }
    }
}

/// A place in a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub file: FileId,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Related {
    pub location: Location,
    pub message: String,
}

/// A replacement of `span` in `file` by `new_text`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TextEdit {
    pub location: Location,
    pub new_text: String,
}

/// A quick fix. Only offered when the edit is certain to be what the user means.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<TextEdit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub location: Location,
    pub message: String,
    pub related: Vec<Related>,
    pub fixes: Vec<Fix>,
}

impl Diagnostic {
    /// A fix that replaces the diagnostic's own span.
    pub fn fix_here(&self, title: String, new_text: String) -> Fix {
        Fix {
            title,
            edits: vec![TextEdit {
                location: self.location.clone(),
                new_text,
            }],
        }
    }
}
