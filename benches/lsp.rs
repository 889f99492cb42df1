//! Benchmark of the language server, driven like an editor over stdio (run by hand; not a test):
//!
//!     cargo build --release
//!     cargo bench --bench lsp -- <workspace folder> [--edits N] [--settles N] [--oxlint <path to oxlint>]
//!
//! Prints: time from `initialized` to the first complete diagnostics; for single-character
//! edits in a leaf file and in the file with the most importers, the time from `didChange` sent
//! to `publishDiagnostics` received (p50/p99; `--edits 0` skips them); the time to settle after
//! deleting and re-creating that hub file (median and worst of `--settles` cycles, default 5);
//! the server's peak RSS. With `--oxlint`, oxlint's language server
//! is measured on the same edits of the leaf file (it only lints open files).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

#[path = "../tests/support/mod.rs"]
mod support;

use support::{LspClient as Client, file_uri as uri};

fn percentile(mut xs: Vec<Duration>, p: f64) -> Duration {
    xs.sort();
    xs[((xs.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Byte offset just after the `./` or `../` that starts the first relative specifier.
fn edit_point(text: &str) -> Option<(usize, usize)> {
    for quote in ["'./", "\"./", "'../", "\"../"] {
        if let Some(i) = text.find(quote) {
            let at = i + quote.len();
            let line = text[..at].matches('\n').count();
            let col = at - text[..at].rfind('\n').map_or(0, |n| n + 1);
            // ASCII before the point, or the column would need UTF-16 counting.
            if text[text[..at].rfind('\n').map_or(0, |n| n + 1)..at].is_ascii() {
                return Some((line, col));
            }
        }
    }
    None
}

/// Where the one-character edits go.
#[derive(Clone, Copy)]
enum EditAt {
    /// Inside the first relative specifier: the module's imports change.
    Specifier,
    /// A space at the end of the file: the text changes, the imports do not.
    Body,
}

/// Toggles one character `edits` times in `file` (opened first, closed after); returns the time
/// from each `didChange` to the `publishDiagnostics` of that version.
fn edit_latencies(client: &mut Client, file: &Path, edits: usize, mode: EditAt) -> Vec<Duration> {
    let text = std::fs::read_to_string(file).expect("read file");
    let (line, col) = match mode {
        EditAt::Specifier => edit_point(&text).expect("a relative specifier"),
        EditAt::Body => {
            let line = text.matches('\n').count();
            let last = &text[text.rfind('\n').map_or(0, |n| n + 1)..];
            (line, last.encode_utf16().count())
        }
    };
    let target = uri(file);
    client.notify("textDocument/didOpen", json!({ "textDocument": { "uri": target, "languageId": "javascript", "version": 1, "text": text } }));
    let mut times = Vec::new();
    for n in 0..edits {
        let at = json!({ "line": line, "character": col });
        let inserted = if matches!(mode, EditAt::Specifier) {
            "x"
        } else {
            " "
        };
        let change = if n % 2 == 0 {
            json!({ "range": { "start": at, "end": at }, "text": inserted })
        } else {
            json!({ "range": { "start": at, "end": { "line": line, "character": col + 1 } }, "text": "" })
        };
        let version = n as i64 + 2;
        let started = Instant::now();
        client.notify("textDocument/didChange", json!({ "textDocument": { "uri": target, "version": version }, "contentChanges": [change] }));
        client.wait_publish(&target, version);
        times.push(started.elapsed());
    }
    client.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": target } }),
    );
    times
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(folder) = args
        .first()
        .map(|f| std::fs::canonicalize(f).expect("folder exists"))
    else {
        eprintln!(
            "usage: cargo bench --bench lsp -- <workspace folder> [--edits N] [--settles N] [--oxlint PATH] [--binary PATH]"
        );
        std::process::exit(2);
    };
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let edits: usize = flag("--edits").and_then(|v| v.parse().ok()).unwrap_or(500);
    let settles: usize = flag("--settles")
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    // `--binary PATH`: another build of the server, to compare two builds in one sitting.
    let binary = flag("--binary")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/modgraph"));

    // Pick the files: a leaf (no importers) and the hub (most importers), both with a relative
    // specifier to edit.
    let options = modgraph::workspace::WorkspaceOptions {
        declaration_files: false,
        ..Default::default()
    };
    let workspace =
        modgraph::workspace::Workspace::open_with(std::slice::from_ref(&folder), options)
            .expect("workspace");
    let graph = workspace.graph();
    let candidates: Vec<(usize, PathBuf)> = graph
        .workspace_modules()
        .filter(|(_, m)| m.is_evaluated() && m.facts.complete())
        .filter(|(id, _)| {
            std::fs::read_to_string(graph.path(*id))
                .ok()
                .and_then(|t| edit_point(&t))
                .is_some()
        })
        .map(|(id, _)| (graph.importers(id).len(), graph.path(id).to_path_buf()))
        .collect();
    let leaf = candidates
        .iter()
        .filter(|(n, _)| *n == 0)
        .map(|(_, p)| p.clone())
        .min()
        .expect("a leaf file");
    let (hub_importers, hub) = candidates
        .iter()
        .max_by_key(|(n, p)| (*n, std::cmp::Reverse(p.clone())))
        .cloned()
        .expect("a hub file");
    let modules = graph.modules().count();
    drop(workspace);
    println!(
        "folder: {} ({modules} modules); leaf: {}; hub: {} ({hub_importers} importers)",
        folder.display(),
        leaf.display(),
        hub.display()
    );

    let mut client = Client::start_program(&binary, &["lsp"], &folder);
    client.keep_history = false;
    let init = json!({ "processId": null, "rootUri": uri(&folder), "workspaceFolders": [{ "uri": uri(&folder), "name": "w" }], "capabilities": { "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } } } });
    client.request("initialize", init);
    let started = Instant::now();
    client.notify("initialized", json!({}));
    // Answered once the first full diagnostics are computed and pushed.
    client.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri(&leaf) }, "position": { "line": 0, "character": 0 } }),
    );
    println!(
        "modgraph: initialized → first complete diagnostics: {}",
        ms(started.elapsed())
    );

    for (name, file) in [("leaf", &leaf), ("hub", &hub)]
        .into_iter()
        .filter(|_| edits > 0)
    {
        for (what, mode) in [
            ("body", EditAt::Body),
            ("import specifier", EditAt::Specifier),
        ] {
            let times = edit_latencies(&mut client, file, edits, mode);
            println!(
                "modgraph: {name} edit in the {what} → diagnostics: p50 {}, p99 {} ({edits} edits)",
                ms(percentile(times.clone(), 0.5)),
                ms(percentile(times, 0.99))
            );
        }
    }

    // Delete and re-create the hub on disk: every importer is re-resolved.
    let saved = std::fs::read(&hub).expect("read hub");
    let barrier =
        json!({ "textDocument": { "uri": uri(&leaf) }, "position": { "line": 0, "character": 0 } });
    let (mut deleted, mut created) = (Vec::new(), Vec::new());
    // The time from the watcher notification (type 3: deleted, 1: created) to the answer of a
    // request queued behind it.
    let mut settle = |change_type: u32| {
        let started = Instant::now();
        client.notify(
            "workspace/didChangeWatchedFiles",
            json!({ "changes": [{ "uri": uri(&hub), "type": change_type }] }),
        );
        client.request("textDocument/hover", barrier.clone());
        started.elapsed()
    };
    for _ in 0..settles {
        std::fs::remove_file(&hub).expect("delete hub");
        deleted.push(settle(3));
        std::fs::write(&hub, &saved).expect("restore hub");
        created.push(settle(1));
    }
    for (what, times) in [("deleting", deleted), ("creating", created)] {
        println!(
            "modgraph: settle after {what} the hub: median {}, worst {} ({settles} times)",
            ms(percentile(times.clone(), 0.5)),
            ms(percentile(times, 1.0))
        );
    }
    println!("modgraph: peak RSS {:.0} MiB", client.peak_rss_mib());
    client.shutdown();

    if let Some(oxlint) = flag("--oxlint") {
        let mut peer = Client::start_program(Path::new(&oxlint), &["--lsp"], &folder);
        peer.keep_history = false;
        let init = json!({ "processId": null, "rootUri": uri(&folder), "workspaceFolders": [{ "uri": uri(&folder), "name": "w" }], "capabilities": {}, "initializationOptions": [{ "workspaceUri": uri(&folder), "options": { "run": "onType" } }] });
        peer.request("initialize", init);
        let started = Instant::now();
        peer.notify("initialized", json!({}));
        let times = edit_latencies(&mut peer, &leaf, edits, EditAt::Specifier);
        println!(
            "oxlint --lsp: open + {} leaf edits in {} ; edit → diagnostics: p50 {}, p99 {}",
            edits,
            ms(started.elapsed()),
            ms(percentile(times.clone(), 0.5)),
            ms(percentile(times, 0.99))
        );
        println!("oxlint --lsp: peak RSS {:.0} MiB", peer.peak_rss_mib());
        peer.shutdown();
    }
}
