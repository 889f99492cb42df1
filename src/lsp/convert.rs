//! Between modgraph's plain data (paths, byte spans) and LSP types (URIs, positions in the
//! negotiated encoding).

use std::path::{Path, PathBuf};

use tower_lsp_server::ls_types::{
    CodeDescription, Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location,
    NumberOrString, Position, Range, Uri,
};

use crate::diagnostic::{Diagnostic as ModuleDiagnostic, Severity};
use crate::extract::Span;
use crate::line_index::{LineCol, LineIndex};

/// How columns are counted, as negotiated in `initialize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
}

/// The path of a `file:` URI; `None` for other schemes (ignored politely).
pub fn path_of(uri: &Uri) -> Option<PathBuf> {
    if uri.scheme().as_str() != "file" {
        return None;
    }
    uri.to_file_path().map(|p| p.into_owned())
}

pub fn uri_of(path: &Path) -> Option<Uri> {
    Uri::from_file_path(path)
}

pub fn position(index: &LineIndex, offset: u32, encoding: Encoding) -> Position {
    let at = match encoding {
        Encoding::Utf16 => index.utf16(offset),
        Encoding::Utf8 => index.utf8(offset),
    };
    Position::new(at.line, at.col)
}

pub fn range(index: &LineIndex, span: Span, encoding: Encoding) -> Range {
    Range::new(
        position(index, span.start, encoding),
        position(index, span.end, encoding),
    )
}

pub fn offset(index: &LineIndex, position: Position, encoding: Encoding) -> u32 {
    index.offset(
        LineCol {
            line: position.line,
            col: position.character,
        },
        encoding == Encoding::Utf16,
    )
}

fn severity(severity: Severity) -> DiagnosticSeverity {
    match severity {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Info => DiagnosticSeverity::INFORMATION,
        Severity::Hint => DiagnosticSeverity::HINT,
    }
}

/// The documentation page of a rule, as a link the editor can open.
fn doc_link(code: &str) -> Option<CodeDescription> {
    // Made once per rule: a file URI is percent-encoded from the path.
    static LINKS: std::sync::OnceLock<Vec<(&'static str, CodeDescription)>> =
        std::sync::OnceLock::new();
    let links = LINKS.get_or_init(|| {
        crate::rules::all()
            .iter()
            .filter_map(|rule| {
                let meta = rule.meta();
                let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(meta.doc_path());
                Some((
                    meta.code,
                    CodeDescription {
                        href: uri_of(&path)?,
                    },
                ))
            })
            .collect()
    });
    links
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, link)| link.clone())
}

/// Converts a diagnostic. `index_of` gives the line index of any file the diagnostic mentions.
pub fn diagnostic<'g, 'i, 't: 'i>(
    d: &ModuleDiagnostic,
    path_of_file: impl Fn(crate::graph::FileId) -> &'g Path,
    index_of: impl Fn(crate::graph::FileId) -> Option<&'i LineIndex<'t>>,
    encoding: Encoding,
) -> Option<Diagnostic> {
    let own = index_of(d.location.file)?;
    let related: Vec<DiagnosticRelatedInformation> = d
        .related
        .iter()
        .filter_map(|r| {
            let index = index_of(r.location.file)?;
            Some(DiagnosticRelatedInformation {
                location: Location {
                    uri: uri_of(path_of_file(r.location.file))?,
                    range: range(index, r.location.span, encoding),
                },
                message: r.message.clone(),
            })
        })
        .collect();
    Some(Diagnostic {
        range: range(own, d.location.span, encoding),
        severity: Some(severity(d.severity)),
        code: Some(NumberOrString::String(d.code.to_string())),
        code_description: doc_link(d.code),
        source: Some("modgraph".into()),
        message: d.message.clone(),
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    })
}
