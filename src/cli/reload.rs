//! `modgraph reload`: ask every runtime attached to this workspace to reload the subgraph of
//! some files (default: every module whose loaded version differs from disk).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;

use crate::runtime::{self, AgentClient, ReloadParams, discovery};
use crate::workspace::Workspace;

pub fn run(files: &[PathBuf], root: Option<&Path>, as_json: bool) -> Result<ExitCode> {
    let root = std::fs::canonicalize(root.unwrap_or(Path::new(".")))
        .context("cannot read the workspace folder")?;
    let mut explicit = Vec::new();
    for file in files {
        explicit.push(
            std::fs::canonicalize(file)
                .with_context(|| format!("cannot read {}", file.display()))?,
        );
    }
    let records =
        discovery::records_within(&runtime::runtime_directory(), std::slice::from_ref(&root))?;
    if records.is_empty() {
        anyhow::bail!(
            "no running Node process with the modgraph agent works under {}; start one with `modgraph run -- node app.mjs`",
            root.display()
        );
    }
    let async_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut workspace: Option<Workspace> = None;
    let mut failed = false;
    let mut reports = Vec::new();
    for record in records {
        let outcome = async_runtime.block_on(async {
            let (client, _notifications) =
                AgentClient::connect(&record.endpoint, &record.token).await?;
            let modules = client.modules().await?;
            let changed = if explicit.is_empty() {
                runtime::outdated_on_disk(&modules)
            } else {
                explicit.clone()
            };
            Ok::<_, runtime::AgentError>((client, changed))
        });
        let (client, changed) = match outcome {
            Ok(pair) => pair,
            Err(error) => {
                failed = true;
                report_error(&mut reports, as_json, &record, &error);
                continue;
            }
        };
        let params = if changed.is_empty() {
            ReloadParams::default()
        } else {
            if workspace.is_none() {
                workspace = Some(
                    Workspace::open(std::slice::from_ref(&root))
                        .context("cannot open the workspace")?,
                );
            }
            match &workspace {
                Some(ws) => runtime::plan::reload_params(ws.graph(), &changed),
                None => ReloadParams {
                    changed: changed.clone(),
                    ..ReloadParams::default()
                },
            }
        };
        if params.changed.is_empty() {
            if as_json {
                reports.push(json!({ "pid": record.pid, "cwd": record.cwd, "result": null }));
            } else {
                println!("pid {}: up to date", record.pid);
            }
            continue;
        }
        match async_runtime.block_on(client.reload(&params)) {
            Ok(mut result) => {
                runtime::locate_syntax_error(&mut result, &params.changed);
                failed |= !result.ok;
                if as_json {
                    reports.push(json!({ "pid": record.pid, "cwd": record.cwd, "result": result }));
                } else {
                    println!(
                        "pid {}: {}",
                        record.pid,
                        runtime::report::describe(&result, &root)
                    );
                }
            }
            Err(error) => {
                failed = true;
                report_error(&mut reports, as_json, &record, &error);
            }
        }
    }
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).context("cannot write JSON")?
        );
    }
    if let Some(ws) = workspace {
        std::mem::forget(ws);
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A process that could not be reached or answered with an error: a JSON entry or a line on
/// stderr.
fn report_error(
    reports: &mut Vec<serde_json::Value>,
    as_json: bool,
    record: &discovery::RuntimeRecord,
    error: &runtime::AgentError,
) {
    if as_json {
        reports.push(json!({ "pid": record.pid, "cwd": record.cwd, "error": error.to_string() }));
    } else {
        eprintln!("modgraph: pid {}: {error}", record.pid);
    }
}
