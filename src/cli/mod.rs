//! Command-line front end: argument parsing and the `check` / `graph` outputs.

pub mod check;
pub mod graph;
pub mod reload;
mod report;
pub mod run;
mod sarif;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

// The rules never use declaration files' edges; `graph` shows them.
use crate::workspace::{Workspace, WorkspaceOptions};

#[derive(Parser)]
#[command(
    name = "modgraph",
    version,
    about = "The module graph of a Node.js workspace: stale imports, duplicate module instances, and reloading the affected subgraph in running Node processes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the language server over stdin/stdout.
    Lsp {
        /// Accepted for clients that pass it; stdio is the only transport.
        #[arg(long)]
        stdio: bool,
    },
    /// Report stale imports and duplicate module instances.
    Check {
        /// Workspace folders (default: the current folder). A file limits the report to that file.
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: check::CheckFormat,
        /// Print the time of each phase to stderr.
        #[arg(long)]
        timings: bool,
    },
    /// Print the module graph, or the neighbourhood of one file.
    Graph {
        /// Workspace folder (default: the current folder).
        path: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "json")]
        format: graph::GraphFormat,
        /// Show only the modules around this file.
        #[arg(long)]
        focus: Option<PathBuf>,
        /// With --focus: how many import steps away (both directions).
        #[arg(long, default_value_t = 1)]
        depth: u32,
    },
    /// Start a Node program with the runtime agent and reload what each save makes stale.
    Run {
        /// Start the program but do not watch files (reload with `modgraph reload`).
        #[arg(long)]
        no_watch: bool,
        /// A burst of saves (several files queued at once) reloads once it has been quiet this
        /// long; a single save reloads at once.
        #[arg(long, value_name = "MS", default_value_t = 20)]
        debounce: u64,
        /// Workspace folder to watch (default: the current folder).
        #[arg(long)]
        root: Option<PathBuf>,
        /// `node ARGS…`, or a script (`app.mjs ARGS…` runs it with node).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
    /// Print the path of the runtime agent, for `node --import <path>` or NODE_OPTIONS.
    Agent {
        /// Print the CommonJS entry (for `node --require`) instead of the ES module one.
        #[arg(long)]
        cjs: bool,
    },
    /// Reload the subgraph of FILES (default: every outdated module) in attached Node processes.
    Reload {
        files: Vec<PathBuf>,
        /// Workspace folder whose processes to reach (default: the current folder).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Exit codes: 0 no errors, 1 errors reported, 2 usage or workspace problems.
pub fn main(cli: Cli) -> ExitCode {
    match dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("modgraph: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Lsp { stdio: _ } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(crate::lsp::run_stdio());
            // The stdin reader may still wait in a blocking read: do not wait for it.
            runtime.shutdown_background();
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            paths,
            format,
            timings,
        } => {
            let started = Instant::now();
            let (roots, only) = split_paths(&paths)?;
            let workspace = Workspace::open_with(
                &roots,
                WorkspaceOptions {
                    declaration_files: false,
                    // One build, no changes.
                    specifier_index: false,
                },
            )
            .context("cannot open the workspace")?;
            print_notes(&workspace);
            let base = common_base(workspace.roots());
            let mut stdout = std::io::stdout().lock();
            let loaded = started.elapsed();
            let outcome = check::run(&workspace, &base, &only, format, started, &mut stdout)?;
            if timings {
                let s = workspace.stats();
                eprintln!(
                    "timings: walk {:.1} ms, load {:.1} ms ({} modules; thread time: read+parse {:.1} ms, resolve {:.1} ms, graph {:.1} ms), open total {:.1} ms, rules+output {:.1} ms",
                    ms(s.walk),
                    ms(s.load),
                    s.parsed_files,
                    ms(s.read_parse),
                    ms(s.resolve),
                    ms(s.graph),
                    ms(loaded),
                    ms(started.elapsed() - loaded)
                );
            }
            // Freeing tens of thousands of modules one by one only delays the exit.
            std::mem::forget(workspace);
            Ok(if outcome.errors > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Graph {
            path,
            format,
            focus,
            depth,
        } => {
            let root = path.unwrap_or_else(|| PathBuf::from("."));
            let workspace = Workspace::open(std::slice::from_ref(&root))
                .context("cannot open the workspace")?;
            print_notes(&workspace);
            let base = common_base(workspace.roots());
            let mut stdout = std::io::stdout().lock();
            graph::run(
                &workspace,
                &base,
                focus.as_deref(),
                depth,
                format,
                &mut stdout,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            no_watch,
            debounce,
            root,
            command,
        } => run::run(run::RunOptions {
            watch: !no_watch,
            debounce: std::time::Duration::from_millis(debounce),
            root,
            command,
        }),
        Command::Agent { cjs } => {
            let agent = crate::runtime::agent_files::install()
                .context("cannot write the runtime agent to the cache folder")?;
            let path = if cjs {
                agent.cjs_entry()
            } else {
                agent.esm_entry()
            };
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Reload { files, root, json } => reload::run(&files, root.as_deref(), json),
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn print_notes(workspace: &Workspace) {
    if let Some(message) = workspace.file_limit_message() {
        eprintln!("note: {message}");
    }
    for (path, note) in workspace.notes() {
        eprintln!("note: {}: {note}", path.display());
    }
}

/// Folders are roots; a file adds its folder's package root and limits the report to it.
fn split_paths(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    if paths.is_empty() {
        return Ok((vec![PathBuf::from(".")], Vec::new()));
    }
    let mut roots = Vec::new();
    let mut only = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            roots.push(path.clone());
        } else {
            let file = std::fs::canonicalize(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let root = file
                .ancestors()
                .skip(1)
                .find(|dir| dir.join("package.json").is_file())
                .or_else(|| file.parent())
                .map(Path::to_path_buf)
                .with_context(|| format!("{} has no parent folder", path.display()))?;
            roots.push(root);
            only.push(file);
        }
    }
    Ok((roots, only))
}

/// The deepest folder that holds every root.
fn common_base(roots: &[PathBuf]) -> PathBuf {
    let Some(first) = roots.first() else {
        return PathBuf::from("/");
    };
    let mut base = first.clone();
    for root in &roots[1..] {
        while !root.starts_with(&base) {
            if !base.pop() {
                break;
            }
        }
    }
    base
}
