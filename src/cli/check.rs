//! `modgraph check`: build the graph, run the rules, print text, JSON or SARIF.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use serde_json::json;

use super::report::{Positions, Reported};
use crate::diagnostic::Severity;
use crate::workspace::Workspace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    Sarif,
}

/// What `check` found, for the exit code.
pub struct CheckOutcome {
    pub errors: usize,
}

pub fn run(
    workspace: &Workspace,
    base: &Path,
    only: &[PathBuf],
    format: CheckFormat,
    started: Instant,
    out: &mut impl Write,
) -> Result<CheckOutcome> {
    let diagnostics = crate::rules::check(workspace);
    let graph = workspace.graph();
    let mut positions = Positions::new(workspace, base);
    let reported: Vec<Reported> = diagnostics
        .iter()
        .filter(|d| only.is_empty() || only.iter().any(|p| graph.path(d.location.file) == p))
        .map(|d| positions.report(d))
        .collect();
    let errors = reported
        .iter()
        .filter(|r| r.severity == Severity::Error.as_str())
        .count();
    let files = graph.workspace_modules().count();
    let modules = graph.modules().count();
    match format {
        CheckFormat::Text => {
            for r in &reported {
                writeln!(
                    out,
                    "{}:{}:{}: {}[{}]: {}",
                    r.file, r.line, r.column, r.severity, r.code, r.message
                )?;
                if !r.source_line.is_empty() {
                    let gutter = r.line.to_string();
                    writeln!(out, "  {gutter} | {}", r.source_line)?;
                    let width = if r.end_line == r.line {
                        r.end_column.saturating_sub(r.column).max(1)
                    } else {
                        1
                    };
                    let pad: String = r
                        .source_line
                        .chars()
                        .take(r.column as usize - 1)
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    writeln!(
                        out,
                        "  {} | {pad}{}",
                        " ".repeat(gutter.len()),
                        "^".repeat(width as usize)
                    )?;
                }
                for rel in &r.related {
                    writeln!(
                        out,
                        "    {}:{}:{}: {}",
                        rel.file, rel.line, rel.column, rel.message
                    )?;
                }
                for fix in &r.fixes {
                    writeln!(out, "    fix: {}", fix.title)?;
                }
            }
            let count = |s: Severity| reported.iter().filter(|r| r.severity == s.as_str()).count();
            let plural =
                |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            writeln!(
                out,
                "{}, {}, {} in {} ({} modules in the graph) in {} ms",
                plural(count(Severity::Error), "error"),
                plural(count(Severity::Warning), "warning"),
                plural(count(Severity::Info) + count(Severity::Hint), "hint"),
                plural(files, "file"),
                modules,
                started.elapsed().as_millis()
            )?;
        }
        CheckFormat::Json => {
            let value = json!({
                "version": 1,
                "root": base.display().to_string(),
                "files": files,
                "modules": modules,
                "diagnostics": reported,
            });
            serde_json::to_writer_pretty(&mut *out, &value)?;
            writeln!(out)?;
        }
        CheckFormat::Sarif => {
            serde_json::to_writer_pretty(&mut *out, &super::sarif::document(base, &reported))?;
            writeln!(out)?;
        }
    }
    Ok(CheckOutcome { errors })
}
