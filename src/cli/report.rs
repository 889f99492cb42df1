//! Diagnostics with resolved positions: the common input of the text, JSON and SARIF outputs.

use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::diagnostic::{Diagnostic, Location};
use crate::graph::FileId;
use crate::line_index::LineIndex;
use crate::workspace::Workspace;

/// 1-based line, 1-based UTF-16 column.
#[derive(Debug, Clone, Serialize)]
pub struct ReportedRelated {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportedEdit {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    pub new_text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportedFix {
    pub title: String,
    pub edits: Vec<ReportedEdit>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reported {
    pub code: &'static str,
    pub severity: &'static str,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    pub message: String,
    pub related: Vec<ReportedRelated>,
    pub fixes: Vec<ReportedFix>,
    /// The source line, for the text output.
    #[serde(skip)]
    pub source_line: String,
}

/// Reads each file with diagnostics once and converts spans to positions.
pub struct Positions<'w> {
    workspace: &'w Workspace,
    base: PathBuf,
    /// Text and line starts of each file with a diagnostic, read once.
    texts: FxHashMap<FileId, String>,
    indexes: FxHashMap<FileId, std::sync::Arc<[u32]>>,
}

impl<'w> Positions<'w> {
    pub fn new(workspace: &'w Workspace, base: &Path) -> Self {
        Self {
            workspace,
            base: base.to_path_buf(),
            texts: FxHashMap::default(),
            indexes: FxHashMap::default(),
        }
    }

    pub fn relative(&self, id: FileId) -> String {
        let path = self.workspace.graph().path(id);
        path.strip_prefix(&self.base)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.display().to_string())
    }

    fn text(&mut self, id: FileId) -> &str {
        let path = self.workspace.graph().path(id).to_path_buf();
        self.texts
            .entry(id)
            .or_insert_with(|| std::fs::read_to_string(path).unwrap_or_default())
    }

    /// (line, column, end line, end column, source line), 1-based, columns in UTF-16 units.
    fn range(&mut self, location: &Location) -> (u32, u32, u32, u32, String) {
        if !self.indexes.contains_key(&location.file) {
            let starts = LineIndex::new(self.text(location.file)).into_line_starts();
            self.indexes.insert(location.file, starts);
        }
        let text = self
            .texts
            .get(&location.file)
            .map(String::as_str)
            .unwrap_or_default();
        let index = LineIndex::with_line_starts(
            text,
            self.indexes
                .get(&location.file)
                .cloned()
                .unwrap_or_default(),
        );
        let start = index.utf16(location.span.start);
        let end = index.utf16(location.span.end);
        (
            start.line + 1,
            start.col + 1,
            end.line + 1,
            end.col + 1,
            index.line_text(start.line).to_string(),
        )
    }

    pub fn report(&mut self, d: &Diagnostic) -> Reported {
        let (line, column, end_line, end_column, source_line) = self.range(&d.location);
        let related = d
            .related
            .iter()
            .map(|r| {
                let (line, column, ..) = self.range(&r.location);
                ReportedRelated {
                    file: self.relative(r.location.file),
                    line,
                    column,
                    message: r.message.clone(),
                }
            })
            .collect();
        let fixes = d
            .fixes
            .iter()
            .map(|f| ReportedFix {
                title: f.title.clone(),
                edits: f
                    .edits
                    .iter()
                    .map(|e| {
                        let (line, column, end_line, end_column, _) = self.range(&e.location);
                        ReportedEdit {
                            file: self.relative(e.location.file),
                            line,
                            column,
                            end_line,
                            end_column,
                            new_text: e.new_text.clone(),
                        }
                    })
                    .collect(),
            })
            .collect();
        Reported {
            code: d.code,
            severity: d.severity.as_str(),
            file: self.relative(d.location.file),
            line,
            column,
            end_line,
            end_column,
            message: d.message.clone(),
            related,
            fixes,
            source_line,
        }
    }
}
