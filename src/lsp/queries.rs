//! Answers to requests, computed on the session by the event loop after every earlier change:
//! pull diagnostics, hover, definition, links, references and commands.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tower_lsp_server::ls_types::*;

use super::convert;
use super::session::Session;
use crate::extract::{ImportSite, Span};
use crate::graph::{FileId, Target};
use crate::line_index::LineIndex;

/// The import site under a position and what it resolved to.
fn site_at(
    session: &Session,
    uri: &Uri,
    position: Position,
) -> Option<(FileId, ImportSite, Target, String)> {
    let ws = session.workspace()?;
    let path = convert::path_of(uri)?;
    let id = ws.graph().id(&path)?;
    let module = ws.graph().module(id)?;
    let text = session.text_of(&path)?;
    let index = LineIndex::new(&text);
    let offset = convert::offset(&index, position, session.encoding());
    let edge = module.edges.iter().find(|e| {
        let span = module.site(e).span;
        span.start <= offset && offset <= span.end
    })?;
    Some((id, module.site(edge).clone(), edge.target.clone(), text))
}

pub fn hover(session: &Session, params: HoverParams) -> Option<Hover> {
    let at = params.text_document_position_params;
    let (_, site, target, text) = site_at(session, &at.text_document.uri, at.position)?;
    let ws = session.workspace()?;
    let graph = ws.graph();
    let lines: Vec<String> = match &target {
        Target::Module(file) => {
            let mut lines = vec![format!(
                "`{}` → `{}`",
                site.specifier,
                graph.path(*file).display()
            )];
            if let Some(module) = graph.module(*file) {
                lines.push(format!(
                    "format: {}",
                    format!("{:?}", module.format).to_lowercase()
                ));
            }
            if let Some((root, info)) = ws.package_of(*file) {
                lines.push(format!(
                    "package: {}@{}",
                    root.name,
                    info.version.unwrap_or_else(|| "?".into())
                ));
                let copies = copies_of(session, &root.name);
                if copies > 1 {
                    lines.push(format!(
                        "instances: {copies} copies of this package are loaded"
                    ));
                }
            }
            lines.push(format!(
                "imported by {} modules",
                graph.importers(*file).len()
            ));
            lines
        }
        Target::Builtin => vec![format!("`{}`: Node.js builtin module", site.specifier)],
        Target::NotFound => vec![format!("`{}`: cannot be resolved", site.specifier)],
        Target::CaseMismatch { corrected, .. } => vec![format!(
            "`{}` differs in letter case from `{corrected}`",
            site.specifier
        )],
        Target::Unknown => return None,
    };
    let index = LineIndex::new(&text);
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: lines.join("\n\n"),
        }),
        range: Some(convert::range(&index, site.span, session.encoding())),
    })
}

/// How many installed copies of a package the workspace loads.
fn copies_of(session: &Session, name: &str) -> usize {
    let Some(ws) = session.workspace() else {
        return 0;
    };
    let mut dirs: Vec<PathBuf> = ws
        .graph()
        .modules()
        .filter(|(_, m)| !m.is_workspace())
        .filter_map(|(id, _)| ws.package_of(id))
        .filter(|(root, _)| root.name == name)
        .map(|(root, _)| root.dir)
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs.len()
}

fn file_location(path: &Path) -> Option<Location> {
    Some(Location {
        uri: convert::uri_of(path)?,
        range: Range::default(),
    })
}

pub fn definition(
    session: &Session,
    params: GotoDefinitionParams,
) -> Option<GotoDefinitionResponse> {
    let at = params.text_document_position_params;
    let (_, _, target, _) = site_at(session, &at.text_document.uri, at.position)?;
    let file = target.module()?;
    let location = file_location(session.workspace()?.graph().path(file))?;
    Some(GotoDefinitionResponse::Scalar(location))
}

pub fn document_links(session: &Session, params: DocumentLinkParams) -> Option<Vec<DocumentLink>> {
    let ws = session.workspace()?;
    let path = convert::path_of(&params.text_document.uri)?;
    let module = ws.graph().module(ws.graph().id(&path)?)?;
    let text = session.text_of(&path)?;
    let index = LineIndex::new(&text);
    let links = module
        .edges
        .iter()
        .filter_map(|e| {
            let file = e.target.module()?;
            let span = module.site(e).span;
            let inner = if span.end > span.start + 1 {
                Span::new(span.start + 1, span.end - 1)
            } else {
                span
            };
            Some(DocumentLink {
                range: convert::range(&index, inner, session.encoding()),
                target: convert::uri_of(ws.graph().path(file)),
                tooltip: None,
                data: None,
            })
        })
        .collect();
    Some(links)
}

/// Import sites of other modules that load `file`.
fn importing_sites(session: &Session, file: FileId) -> Vec<Location> {
    let Some(ws) = session.workspace() else {
        return Vec::new();
    };
    let graph = ws.graph();
    let mut importers: Vec<FileId> = graph.importers(file).to_vec();
    importers.sort_by(|a, b| graph.cmp_paths(*a, *b));
    let mut out = Vec::new();
    for importer in importers {
        let Some(module) = graph.module(importer) else {
            continue;
        };
        let path = graph.path(importer);
        let Some(text) = session.text_of(path) else {
            continue;
        };
        let index = LineIndex::new(&text);
        for edge in module
            .edges
            .iter()
            .filter(|e| e.target.module() == Some(file))
        {
            if let Some(uri) = convert::uri_of(path) {
                out.push(Location {
                    uri,
                    range: convert::range(&index, module.site(edge).span, session.encoding()),
                });
            }
        }
    }
    out
}

/// References of a file: the places that import it.
pub fn references(session: &Session, params: ReferenceParams) -> Option<Vec<Location>> {
    let at = params.text_document_position;
    // On a specifier: who imports its target. Elsewhere: who imports this file.
    let file = match site_at(session, &at.text_document.uri, at.position) {
        Some((_, _, target, _)) => target.module()?,
        None => session
            .workspace()?
            .graph()
            .id(&convert::path_of(&at.text_document.uri)?)?,
    };
    Some(importing_sites(session, file))
}

pub fn workspace_diagnostics(session: &Session) -> WorkspaceDiagnosticReportResult {
    let mut paths: Vec<&PathBuf> = session.diagnostics().keys().collect();
    paths.sort();
    let items = paths
        .into_iter()
        .filter_map(|path| {
            Some(WorkspaceDocumentDiagnosticReport::Full(
                WorkspaceFullDocumentDiagnosticReport {
                    uri: convert::uri_of(path)?,
                    version: session.version_of(path).map(i64::from),
                    full_document_diagnostic_report: FullDocumentDiagnosticReport {
                        result_id: None,
                        items: session
                            .diagnostics()
                            .get(path)
                            .map(|d| d.to_vec())
                            .unwrap_or_default(),
                    },
                },
            ))
        })
        .collect();
    WorkspaceDiagnosticReportResult::Report(WorkspaceDiagnosticReport { items })
}

pub fn document_diagnostics(session: &Session, uri: &Uri) -> DocumentDiagnosticReportResult {
    let items = convert::path_of(uri)
        .and_then(|p| session.diagnostics().get(&p).map(|d| d.to_vec()))
        .unwrap_or_default();
    DocumentDiagnosticReportResult::Report(DocumentDiagnosticReport::Full(
        RelatedFullDocumentDiagnosticReport {
            related_documents: None,
            full_document_diagnostic_report: FullDocumentDiagnosticReport {
                result_id: None,
                items,
            },
        },
    ))
}

/// Commands of `workspace/executeCommand`.
pub const COMMANDS: &[&str] = &[
    "modgraph.showDependents",
    "modgraph.showDependencies",
    "modgraph.graph",
    "modgraph.reloadSubgraph",
    "modgraph.listRuntimes",
];

pub fn execute_command(session: &Session, params: ExecuteCommandParams) -> Option<Value> {
    let ws = session.workspace()?;
    let graph = ws.graph();
    let uri: Uri = params.arguments.first()?.as_str()?.parse().ok()?;
    let path = convert::path_of(&uri)?;
    let id = graph.id(&path).filter(|id| graph.is_loaded(*id))?;
    match params.command.as_str() {
        "modgraph.showDependents" | "modgraph.showDependencies" => {
            let closure = if params.command == "modgraph.showDependents" {
                graph.importers_closure(&[id])
            } else {
                graph.dependency_closure(&[id], |_, site| site.is_runtime())
            };
            let mut files: Vec<FileId> = closure.into_iter().filter(|f| *f != id).collect();
            files.sort_by(|a, b| graph.cmp_paths(*a, *b));
            let locations: Vec<Location> = files
                .iter()
                .filter_map(|f| file_location(graph.path(*f)))
                .collect();
            serde_json::to_value(locations).ok()
        }
        "modgraph.graph" => {
            let format = match params.arguments.get(1).and_then(Value::as_str) {
                Some("dot") => crate::cli::graph::GraphFormat::Dot,
                Some("json") => crate::cli::graph::GraphFormat::Json,
                _ => crate::cli::graph::GraphFormat::Mermaid,
            };
            let depth = params.arguments.get(2).and_then(Value::as_u64).unwrap_or(1) as u32;
            let base = ws.roots().first().cloned().unwrap_or_default();
            let mut out = Vec::new();
            crate::cli::graph::run(ws, &base, Some(&path), depth, format, &mut out).ok()?;
            Some(Value::String(String::from_utf8_lossy(&out).into_owned()))
        }
        _ => None,
    }
}

/// The specifier that reaches `target` from `importer_dir`, written in the style of `old`:
/// without an extension if `old` had none, with `old`'s extension if it named the file by
/// another one (`./x.js` for `x.ts`). `None` for directory imports and packages (unsure).
fn restyle(old: &str, old_target: &Path, importer_dir: &Path, target: &Path) -> Option<String> {
    if !crate::resolve::is_path_specifier(old) {
        return None;
    }
    let old_last = old.rsplit('/').next()?;
    let old_stem = old_target.file_stem()?.to_str()?;
    // The specifier must name the file itself (not its folder through `index`).
    let (written_stem, written_ext) = match old_last.split_once('.') {
        Some((stem, ext)) => (stem, Some(ext)),
        None => (old_last, None),
    };
    if written_stem != old_stem {
        return None;
    }
    let new_stem = target.file_stem()?.to_str()?;
    let folder = target.parent()?;
    let mut specifier = crate::resolve::relative_specifier(importer_dir, &folder.join(new_stem))?;
    if let Some(ext) = written_ext {
        specifier.push('.');
        specifier.push_str(ext);
    }
    Some(specifier)
}

/// `workspace/willRenameFiles`: edits that keep every import of the renamed files (and the
/// moved files' own relative imports) pointing at the same modules.
pub fn will_rename(session: &Session, params: RenameFilesParams) -> Option<WorkspaceEdit> {
    let ws = session.workspace()?;
    let graph = ws.graph();
    // old path → new path, for every module under a renamed file or folder.
    let mut moves: std::collections::BTreeMap<PathBuf, PathBuf> = Default::default();
    for file in &params.files {
        let (Some(old), Some(new)) = (
            file.old_uri
                .parse::<Uri>()
                .ok()
                .as_ref()
                .and_then(convert::path_of),
            file.new_uri
                .parse::<Uri>()
                .ok()
                .as_ref()
                .and_then(convert::path_of),
        ) else {
            continue;
        };
        for (id, _) in graph.modules() {
            let path = graph.path(id);
            if let Ok(rest) = path.strip_prefix(&old) {
                moves.insert(
                    path.to_path_buf(),
                    if rest.as_os_str().is_empty() {
                        new.clone()
                    } else {
                        new.join(rest)
                    },
                );
            }
        }
    }
    let new_place = |p: &Path| moves.get(p).cloned().unwrap_or_else(|| p.to_path_buf());
    let mut changes: std::collections::HashMap<Uri, Vec<TextEdit>> = Default::default();
    for (id, module) in graph.workspace_modules() {
        let importer = graph.path(id);
        let importer_moves = moves.contains_key(importer);
        let mut edits = Vec::new();
        let text = session.text_of(importer);
        for edge in &module.edges {
            let Some(target) = edge.target.module() else {
                continue;
            };
            let target_path = graph.path(target);
            if !importer_moves && !moves.contains_key(target_path) {
                continue;
            }
            let site = module.site(edge);
            let new_dir = new_place(importer).parent().map(Path::to_path_buf)?;
            let Some(mut specifier) = restyle(
                &site.specifier,
                target_path,
                &new_dir,
                &new_place(target_path),
            ) else {
                continue;
            };
            if let Some(suffix) = &site.url_suffix {
                specifier.push_str(suffix);
            }
            if specifier == site.specifier {
                continue;
            }
            let Some(text) = text.as_ref() else { continue };
            let index = LineIndex::new(text);
            let inner = Span::new(
                site.span.start + 1,
                site.span.end.saturating_sub(1).max(site.span.start + 1),
            );
            edits.push(TextEdit {
                range: convert::range(&index, inner, session.encoding()),
                new_text: specifier,
            });
        }
        if !edits.is_empty() {
            // Edits apply before the move: they name the file where it is now.
            changes.insert(convert::uri_of(importer)?, edits);
        }
    }
    Some(WorkspaceEdit {
        changes: Some(changes),
        ..WorkspaceEdit::default()
    })
}
