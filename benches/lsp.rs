//! Benchmark of the language server, driven like an editor over stdio (run by hand; not a test):
//!
//!     cargo build --release
//!     cargo bench --bench lsp -- <workspace folder> [--edits N] [--oxlint <path to oxlint>]
//!
//! Prints: time from `initialized` to the first complete diagnostics; for single-character
//! edits in a leaf file and in the file with the most importers, the time from `didChange` sent
//! to `publishDiagnostics` received (p50/p99); the time to settle after deleting and
//! re-creating that hub file; the server's peak RSS. With `--oxlint`, oxlint's language server
//! is measured on the same edits of the leaf file (it only lints open files).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Client {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Value>,
    next_id: i64,
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            length = v.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// Percent-decodes a URI.
fn decode(uri: &str) -> String {
    let bytes = uri.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&uri[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

impl Client {
    fn start(program: &Path, args: &[&str], cwd: &Path) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // MODGRAPH_BENCH_LOG=path keeps the server's log (with MODGRAPH_LOG=debug).
            .stderr(
                match std::env::var_os("MODGRAPH_BENCH_LOG")
                    .and_then(|p| std::fs::File::create(p).ok())
                {
                    Some(file) => Stdio::from(file),
                    None => Stdio::null(),
                },
            )
            .spawn()
            .expect("server starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(m) = read_message(&mut reader) {
                if tx.send(m).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            rx,
            next_id: 1,
        }
    }

    fn send(&mut self, message: Value) {
        let body = serde_json::to_vec(&message).expect("JSON");
        let _ = write!(self.stdin, "Content-Length: {}\r\n\r\n", body.len());
        let _ = self.stdin.write_all(&body);
        let _ = self.stdin.flush();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Next message; answers server requests on the way.
    fn next(&mut self) -> Value {
        loop {
            let m = self
                .rx
                .recv_timeout(Duration::from_secs(300))
                .expect("the server answers");
            if m.get("method").is_some() && m.get("id").is_some() {
                let id = m["id"].clone();
                let result = if m["method"] == "workspace/configuration" {
                    json!([{}])
                } else {
                    Value::Null
                };
                self.send(json!({ "jsonrpc": "2.0", "id": id, "result": result }));
                continue;
            }
            return m;
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let m = self.next();
            if m.get("id") == Some(&json!(id)) && m.get("method").is_none() {
                return m;
            }
        }
    }

    /// Waits for `publishDiagnostics` of `uri` (compared decoded: servers escape differently).
    fn published(&mut self, target: &str) -> Value {
        let target = decode(target);
        loop {
            let m = self.next();
            if m["method"] == "textDocument/publishDiagnostics"
                && decode(m["params"]["uri"].as_str().unwrap_or_default()) == target
            {
                return m;
            }
        }
    }

    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    }

    fn stop(mut self) {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let _ = self.child.wait();
    }
}

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
        loop {
            let published = client.published(&target);
            // Servers that publish per version: wait for this one.
            if published["params"]["version"]
                .as_i64()
                .is_none_or(|v| v >= version)
            {
                break;
            }
        }
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
            "usage: cargo bench --bench lsp -- <workspace folder> [--edits N] [--oxlint PATH]"
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
    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/modgraph");

    // Pick the files: a leaf (no importers) and the hub (most importers), both with a relative
    // specifier to edit.
    let options = modgraph::workspace::WorkspaceOptions {
        declaration_files: false,
    };
    let workspace =
        modgraph::workspace::Workspace::open_with(std::slice::from_ref(&folder), options)
            .expect("workspace");
    let graph = workspace.graph();
    let candidates: Vec<(usize, PathBuf)> = graph
        .workspace_modules()
        .filter(|(_, m)| m.is_evaluated() && m.facts.parsed())
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

    let mut client = Client::start(&binary, &["lsp"], &folder);
    let init = json!({ "processId": null, "rootUri": uri(&folder), "workspaceFolders": [{ "uri": uri(&folder), "name": "w" }], "capabilities": {} });
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

    for (name, file) in [("leaf", &leaf), ("hub", &hub)] {
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
    std::fs::remove_file(&hub).expect("delete hub");
    let started = Instant::now();
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": uri(&hub), "type": 3 }] }),
    );
    client.request("textDocument/hover", barrier.clone());
    println!(
        "modgraph: settle after deleting the hub: {}",
        ms(started.elapsed())
    );
    std::fs::write(&hub, &saved).expect("restore hub");
    let started = Instant::now();
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": uri(&hub), "type": 1 }] }),
    );
    client.request("textDocument/hover", barrier);
    println!(
        "modgraph: settle after creating the hub: {}",
        ms(started.elapsed())
    );
    println!("modgraph: peak RSS {:.0} MiB", client.peak_rss_mib());
    client.stop();

    if let Some(oxlint) = flag("--oxlint") {
        let mut peer = Client::start(Path::new(&oxlint), &["--lsp"], &folder);
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
        peer.stop();
    }
}
