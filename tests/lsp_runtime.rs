//! The language server attached to a real Node process running the agent: outdated modules
//! become diagnostics, the reload command and its code action reach the process, a failed
//! reload is shown where it failed, and the server detaches when the process exits.

#![cfg(unix)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};
use support::{LspClient, codes, file_uri};

const PATIENCE: Duration = Duration::from_secs(60);

fn node() -> String {
    std::env::var("MODGRAPH_TEST_NODES")
        .ok()
        .and_then(|list| list.split(':').next_back().map(str::to_owned))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "node".to_owned())
}

struct NodeApp {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl NodeApp {
    fn next(&self, wanted: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(PATIENCE)
                .expect("the app printed the expected line");
            if wanted(&line) {
                return line;
            }
        }
    }

    fn probe(&mut self) -> String {
        writeln!(self.stdin, "probe").expect("probe");
        self.stdin.flush().expect("flush");
        self.next(|l| l.starts_with("state: "))
    }
}

impl Drop for NodeApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const MAIN: &str = r#"import { render } from './view.mjs';
let buffer = '';
process.stdin.setEncoding('utf8');
const onData = (chunk) => {
  buffer += chunk;
  let i;
  while ((i = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, i);
    buffer = buffer.slice(i + 1);
    if (line === 'probe') console.log(`state: ${render()}`);
  }
};
process.stdin.on('data', onData);
import.meta.hot?.dispose(() => process.stdin.off('data', onData));
console.log('ready');
"#;

fn has_code(list: &[Value], code: &str) -> bool {
    codes(list).iter().any(|c| c == code)
}

const OUTDATED: &str = "stale-import/runtime-outdated";

fn touch(client: &mut LspClient, path: &std::path::Path) {
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": file_uri(path), "type": 2 }] }),
    );
}

/// A workspace (`main.mjs` → `view.mjs` → `format.mjs`) and a Node process running it with the
/// agent preloaded, published in `<root>/.runtime`.
struct Workspace {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    runtime_dir: std::path::PathBuf,
    format: std::path::PathBuf,
}

impl Workspace {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        let runtime_dir = root.join(".runtime");
        std::fs::create_dir(&runtime_dir).expect("runtime dir");
        std::fs::write(
            root.join("package.json"),
            r#"{ "name": "app", "type": "module" }"#,
        )
        .expect("write");
        std::fs::write(root.join("main.mjs"), MAIN).expect("write");
        std::fs::write(
            root.join("view.mjs"),
            "import { fmt } from './format.mjs';\nexport const render = () => `view(${fmt()})`;\n",
        )
        .expect("write");
        let format = root.join("format.mjs");
        std::fs::write(&format, "export const fmt = () => 'v1';\n").expect("write");
        Self {
            _dir: dir,
            root,
            runtime_dir,
            format,
        }
    }

    /// Starts `node --import <agent> main.mjs` and waits for `ready`.
    fn start_app(&self) -> NodeApp {
        let agent = Command::new(env!("CARGO_BIN_EXE_modgraph"))
            .arg("agent")
            .env("MODGRAPH_CACHE_DIR", self.root.join(".cache"))
            .output()
            .expect("modgraph agent");
        let agent = String::from_utf8_lossy(&agent.stdout).trim().to_owned();
        let mut child = Command::new(node())
            .args(["--import", &agent, "main.mjs"])
            .current_dir(&self.root)
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start node");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let app = NodeApp {
            child,
            stdin,
            lines,
        };
        app.next(|l| l == "ready");
        app
    }

    /// A language server on the workspace, attached to the process `pid`.
    fn server_attached_to(&self, pid: u32) -> LspClient {
        let runtime_env = self.runtime_dir.to_string_lossy().into_owned();
        let mut client = LspClient::start_with_env(&[("XDG_RUNTIME_DIR", &runtime_env)]);
        client.initialize(
            &self.root,
            json!({ "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } } }),
            None,
        );
        client.wait_message(|m| is_log(m, &format!("attached to node process {pid}")));
        client
    }
}

fn is_log(message: &Value, needle: &str) -> bool {
    message["method"] == "window/logMessage"
        && message["params"]["message"]
            .as_str()
            .unwrap_or("")
            .contains(needle)
}

#[test]
fn outdated_modules_are_reported_and_reloaded_through_the_server() {
    let workspace = Workspace::new();
    let (root, format) = (workspace.root.clone(), workspace.format.clone());
    let mut app = workspace.start_app();
    let pid = app.child.id();
    let mut client = workspace.server_attached_to(pid);
    let listed = client.request(
        "workspace/executeCommand",
        json!({ "command": "modgraph.listRuntimes" }),
    );
    assert_eq!(listed["result"][0]["pid"], pid, "{listed}");

    // The file changes on disk: the process runs the old version.
    let format_uri = file_uri(&format);
    let view_uri = file_uri(&root.join("view.mjs"));
    std::fs::write(&format, "export const fmt = () => 'v2';\n").expect("edit");
    touch(&mut client, &format);
    let list = client.wait_diagnostics(&format_uri, |l| has_code(l, OUTDATED));
    assert!(
        list[0]["message"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("node process {pid}")),
        "{list:?}"
    );
    // …and so does the import site that loads it.
    client.wait_diagnostics(&view_uri, |l| has_code(l, OUTDATED));

    // The quick fix is the reload command.
    let actions = client.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": format_uri },
            "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 0, "character": 0 } },
            "context": { "diagnostics": list },
        }),
    );
    let command = &actions["result"][0]["command"];
    assert_eq!(command["command"], "modgraph.reloadSubgraph", "{actions}");

    let reloaded = client.request(
        "workspace/executeCommand",
        json!({ "command": "modgraph.reloadSubgraph" }),
    );
    let result = &reloaded["result"]["runtimes"][0]["result"];
    assert_eq!(result["ok"], true, "{reloaded}");
    let names: Vec<String> = result["reloaded"]
        .as_array()
        .expect("reloaded")
        .iter()
        .map(|p| p.as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        names.iter().any(|p| p.ends_with("format.mjs"))
            && names.iter().any(|p| p.ends_with("view.mjs")),
        "{names:?}"
    );
    assert_eq!(app.probe(), "state: view(v2)");
    client.wait_diagnostics(&format_uri, |l| !has_code(l, OUTDATED));
    client.wait_diagnostics(&view_uri, |l| !has_code(l, OUTDATED));

    // A syntax error: the reload fails, the error sits where it is, the old code runs on.
    std::fs::write(
        &format,
        "export const fmt = () => 'v3'\nexport const broken = ;\n",
    )
    .expect("edit");
    touch(&mut client, &format);
    let reloaded = client.request(
        "workspace/executeCommand",
        json!({ "command": "modgraph.reloadSubgraph", "arguments": [format_uri] }),
    );
    assert_eq!(
        reloaded["result"]["runtimes"][0]["result"]["ok"], false,
        "{reloaded}"
    );
    let list = client.wait_diagnostics(&format_uri, |l| {
        l.iter()
            .any(|d| d["code"] == OUTDATED && d["severity"] == 1)
    });
    let failure = list
        .iter()
        .find(|d| d["severity"] == 1)
        .expect("the failure");
    assert_eq!(failure["range"]["start"]["line"], 1, "{failure}");
    assert!(
        failure["message"]
            .as_str()
            .unwrap_or("")
            .contains("SyntaxError"),
        "{failure}"
    );
    assert_eq!(app.probe(), "state: view(v2)");

    // The next good version recovers and clears everything.
    std::fs::write(&format, "export const fmt = () => 'v4';\n").expect("edit");
    touch(&mut client, &format);
    let reloaded = client.request(
        "workspace/executeCommand",
        json!({ "command": "modgraph.reloadSubgraph" }),
    );
    assert_eq!(
        reloaded["result"]["runtimes"][0]["result"]["ok"], true,
        "{reloaded}"
    );
    client.wait_diagnostics(&format_uri, |l| l.is_empty());
    assert_eq!(app.probe(), "state: view(v4)");

    // An edit in the editor (not saved) makes the process outdated too; the process exiting
    // takes its diagnostics away.
    client.open(&format, "export const fmt = () => 'v5';\n");
    client.wait_diagnostics(&format_uri, |l| has_code(l, OUTDATED));
    let _ = app.child.kill();
    let _ = app.child.wait();
    client.wait_diagnostics(&format_uri, |l| !has_code(l, OUTDATED));
    client.shutdown();
}

/// Two servers attached to one process ask for the same reload at the same moment: the agent
/// runs one reload after the other, both servers get a successful answer, and the process runs
/// the new code once both are done.
#[test]
fn two_servers_attached_to_one_process_reload_at_once() {
    let workspace = Workspace::new();
    let mut app = workspace.start_app();
    let pid = app.child.id();
    let mut first = workspace.server_attached_to(pid);
    let mut second = workspace.server_attached_to(pid);
    assert_eq!(app.probe(), "state: view(v1)");

    let format_uri = file_uri(&workspace.format);
    std::fs::write(&workspace.format, "export const fmt = () => 'v2';\n").expect("edit");
    for client in [&mut first, &mut second] {
        touch(client, &workspace.format);
        client.wait_diagnostics(&format_uri, |l| has_code(l, OUTDATED));
    }
    let reload = || json!({ "command": "modgraph.reloadSubgraph" });
    let answers: Vec<Value> = std::thread::scope(|scope| {
        let a = scope.spawn(|| first.request("workspace/executeCommand", reload()));
        let b = scope.spawn(|| second.request("workspace/executeCommand", reload()));
        vec![a.join().expect("first"), b.join().expect("second")]
    });
    for answer in &answers {
        let entries = answer["result"]["runtimes"].as_array().expect("runtimes");
        // A server whose plan was already empty (the other reload came first and its
        // diagnostics were updated) answers that everything is current; otherwise its reload
        // succeeded.
        for entry in entries {
            assert_eq!(entry["pid"], pid, "{answer}");
            assert_eq!(entry["result"]["ok"], true, "{answer}");
        }
        if entries.is_empty() {
            assert!(
                answer["result"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("current code"),
                "{answer}"
            );
        }
    }
    assert!(
        answers.iter().any(|a| !a["result"]["runtimes"]
            .as_array()
            .expect("runtimes")
            .is_empty()),
        "at least one server reloaded: {answers:?}"
    );
    assert_eq!(app.probe(), "state: view(v2)");
    for client in [&mut first, &mut second] {
        client.wait_diagnostics(&format_uri, |l| !has_code(l, OUTDATED));
    }
    first.shutdown();
    second.shutdown();
}

/// The process exits while it evaluates the new version: the reload command answers with the
/// error, the server detaches and keeps answering.
#[test]
fn a_process_that_dies_during_a_reload_is_reported_and_detached() {
    let workspace = Workspace::new();
    let mut app = workspace.start_app();
    let pid = app.child.id();
    let mut client = workspace.server_attached_to(pid);

    std::fs::write(
        &workspace.format,
        "process.exit(5);\nexport const fmt = () => 'v2';\n",
    )
    .expect("edit");
    touch(&mut client, &workspace.format);
    let format_uri = file_uri(&workspace.format);
    client.wait_diagnostics(&format_uri, |l| has_code(l, OUTDATED));
    let answer = client.request(
        "workspace/executeCommand",
        json!({ "command": "modgraph.reloadSubgraph" }),
    );
    let entry = &answer["result"]["runtimes"][0];
    assert_eq!(entry["pid"], pid, "{answer}");
    assert_eq!(
        entry["error"], "the runtime closed the connection",
        "{answer}"
    );
    assert_eq!(app.child.wait().expect("wait").code(), Some(5));
    // The log line may have come while the command was answered.
    let detached = format!("node process {pid} exited; detached");
    if !client.notifications.iter().any(|m| is_log(m, &detached)) {
        client.wait_message(|m| is_log(m, &detached));
    }
    client.wait_diagnostics(&format_uri, |l| !has_code(l, OUTDATED));
    let listed = client.request(
        "workspace/executeCommand",
        json!({ "command": "modgraph.listRuntimes" }),
    );
    assert_eq!(listed["result"], json!([]), "{listed}");
    client.shutdown();
}
