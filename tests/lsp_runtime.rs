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

#[test]
fn outdated_modules_are_reported_and_reloaded_through_the_server() {
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

    let agent = Command::new(env!("CARGO_BIN_EXE_modgraph"))
        .arg("agent")
        .env("MODGRAPH_CACHE_DIR", root.join(".cache"))
        .output()
        .expect("modgraph agent");
    let agent = String::from_utf8_lossy(&agent.stdout).trim().to_owned();
    let mut child = Command::new(node())
        .args(["--import", &agent, "main.mjs"])
        .current_dir(&root)
        .env("XDG_RUNTIME_DIR", &runtime_dir)
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
    let mut app = NodeApp {
        child,
        stdin,
        lines,
    };
    app.next(|l| l == "ready");
    let pid = app.child.id();

    let runtime_env = runtime_dir.to_string_lossy().into_owned();
    let mut client = LspClient::start_with_env(&[("XDG_RUNTIME_DIR", &runtime_env)]);
    client.initialize(
        &root,
        json!({ "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } } }),
        None,
    );
    client.wait_message(|m| {
        m["method"] == "window/logMessage"
            && m["params"]["message"]
                .as_str()
                .unwrap_or("")
                .contains(&format!("attached to node process {pid}"))
    });
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
