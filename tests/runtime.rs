//! End-to-end tests of the runtime agent with real Node processes under `modgraph run`.
//!
//! Each scenario runs once per Node binary in `MODGRAPH_TEST_NODES` (colon-separated; the
//! project's test command passes Node 20 and Node 24), or with the `node` on PATH.
//! Waiting means reading the process's output until the expected line arrives.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a line may take before the test gives up (a failure, not a measurement).
const PATIENCE: Duration = Duration::from_secs(60);

fn nodes() -> Vec<String> {
    match std::env::var("MODGRAPH_TEST_NODES") {
        Ok(list) if !list.trim().is_empty() => list.split(':').map(str::to_owned).collect(),
        _ => vec!["node".to_owned()],
    }
}

fn node_version(node: &str) -> String {
    let output = Command::new(node)
        .arg("--version")
        .output()
        .expect("run node --version");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

struct Lines {
    rx: Receiver<String>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Lines {
    fn spawn(stream: impl Read + Send + 'static) -> Self {
        let (tx, rx) = channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let all = Arc::clone(&seen);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                all.lock().expect("lines").push(line.clone());
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { rx, seen }
    }

    /// The first line from now on that `matches`, or `None` when none comes in time.
    fn next_matching(&self, matches: impl Fn(&str) -> bool) -> Option<String> {
        loop {
            match self.rx.recv_timeout(PATIENCE) {
                Ok(line) if matches(&line) => return Some(line),
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn expect(&self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        self.next_matching(matches).unwrap_or_else(|| {
            panic!(
                "no line {what} within {PATIENCE:?}; seen: {:#?}",
                self.seen.lock().expect("lines")
            )
        })
    }

    fn all(&self) -> Vec<String> {
        self.seen.lock().expect("lines").clone()
    }

    fn count(&self, needle: &str) -> usize {
        self.seen
            .lock()
            .expect("lines")
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }
}

/// A program running under `modgraph run` in a temporary workspace.
struct App {
    dir: tempfile::TempDir,
    child: Child,
    stdin: ChildStdin,
    out: Lines,
    err: Lines,
}

impl App {
    fn start(node: &str, files: &[(&str, &str)], entry: &str) -> Self {
        Self::start_with_runtime_dir(node, files, entry, ".runtime")
    }

    /// `runtime_dir` (relative to the workspace) is the `XDG_RUNTIME_DIR` of the run.
    fn start_with_runtime_dir(
        node: &str,
        files: &[(&str, &str)],
        entry: &str,
        runtime_dir: &str,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write fixture");
        }
        let runtime_dir = dir.path().join(runtime_dir);
        std::fs::create_dir_all(&runtime_dir).expect("runtime dir");
        std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        let mut child = Command::new(env!("CARGO_BIN_EXE_modgraph"))
            .args(["run", "--"])
            .arg(node)
            .arg(entry)
            .current_dir(dir.path())
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .env("MODGRAPH_CACHE_DIR", dir.path().join(".cache"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start modgraph run");
        let stdin = child.stdin.take().expect("stdin");
        let out = Lines::spawn(child.stdout.take().expect("stdout"));
        let err = Lines::spawn(child.stderr.take().expect("stderr"));
        let app = Self {
            dir,
            child,
            stdin,
            out,
            err,
        };
        app.expect_out("`ready`", |l| l == "ready");
        app
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).expect("edit");
    }

    /// Asks the program for its state line.
    fn probe(&mut self) -> String {
        writeln!(self.stdin, "probe").expect("write probe");
        self.stdin.flush().expect("flush");
        self.expect_out("`state: …`", |l| l.starts_with("state: "))
    }

    fn expect_reloaded(&self) -> String {
        self.expect_err("`modgraph: reloaded …`", |l| {
            l.starts_with("modgraph: reloaded")
        })
    }

    fn expect_failed(&self) -> String {
        self.expect_err("`modgraph: reload failed …`", |l| {
            l.starts_with("modgraph: reload failed")
        })
    }

    fn expect_out(&self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let found = self.out.next_matching(matches);
        found.unwrap_or_else(|| self.give_up(what))
    }

    fn expect_err(&self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let found = self.err.next_matching(matches);
        found.unwrap_or_else(|| self.give_up(what))
    }

    fn give_up(&self, what: &str) -> ! {
        panic!(
            "no line {what} within {PATIENCE:?}\nstdout: {:#?}\nstderr: {:#?}",
            self.out.all(),
            self.err.all()
        )
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // SIGTERM goes to modgraph, which forwards it to Node and exits with its status.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let _ = self.child.wait();
    }
}

fn pid_of(state: &str) -> &str {
    state.rsplit("pid=").next().unwrap_or("")
}

const STDIN_PROBE: &str = r#"
let buffer = '';
const onData = (chunk) => {
  buffer += chunk;
  let i;
  while ((i = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, i);
    buffer = buffer.slice(i + 1);
    if (line === 'probe') console.log(`state: ${render()} count=${counter()} pid=${process.pid}`);
  }
};
process.stdin.setEncoding('utf8');
process.stdin.on('data', onData);
"#;

fn esm_app() -> Vec<(&'static str, String)> {
    vec![
        (
            "main.mjs",
            format!(
                "import {{ render }} from './view.mjs';\nimport {{ counter }} from './state.mjs';\n{STDIN_PROBE}\
                 import.meta.hot?.dispose(() => {{ process.stdin.off('data', onData); console.log('disposed main'); }});\nconsole.log('ready');\n"
            ),
        ),
        (
            "view.mjs",
            "import { fmt } from './format.mjs';\nexport const render = () => `view(${fmt()})`;\n"
                .into(),
        ),
        ("format.mjs", "export const fmt = () => 'v1';\n".into()),
        (
            "state.mjs",
            "let n = 0;\nexport const counter = () => ++n;\n".into(),
        ),
    ]
}

fn cjs_app() -> Vec<(&'static str, String)> {
    vec![
        (
            "main.cjs",
            format!(
                "const {{ render }} = require('./view.cjs');\nconst {{ counter }} = require('./state.cjs');\n{STDIN_PROBE}\
                 module.hot.dispose(() => {{ process.stdin.off('data', onData); console.log('disposed main'); }});\nconsole.log('ready');\n"
            ),
        ),
        (
            "view.cjs",
            "const { fmt } = require('./format.cjs');\nexports.render = () => `view(${fmt()})`;\n"
                .into(),
        ),
        ("format.cjs", "exports.fmt = () => 'v1';\n".into()),
        (
            "state.cjs",
            "let n = 0;\nexports.counter = () => ++n;\n".into(),
        ),
    ]
}

/// The CommonJS app with another `view.cjs`.
fn cjs_app_with_view(view: &str) -> Vec<(&'static str, String)> {
    let mut files = cjs_app();
    for (name, text) in &mut files {
        if *name == "view.cjs" {
            *text = view.to_owned();
        }
    }
    files
}

/// An ES module entry, CommonJS in the middle, and ES module state.
fn mixed_app() -> Vec<(&'static str, String)> {
    vec![
        (
            "main.mjs",
            format!(
                "import {{ render }} from './view.cjs';\nimport {{ counter }} from './state.mjs';\n{STDIN_PROBE}\
                 import.meta.hot?.dispose(() => {{ process.stdin.off('data', onData); console.log('disposed main'); }});\nconsole.log('ready');\n"
            ),
        ),
        (
            "view.cjs",
            "const { fmt } = require('./format.cjs');\nexports.render = () => `view(${fmt()})`;\n"
                .into(),
        ),
        ("format.cjs", "exports.fmt = () => 'v1';\n".into()),
        (
            "state.mjs",
            "let n = 0;\nexport const counter = () => ++n;\n".into(),
        ),
    ]
}

/// The contract of a reload, on one app: same process, unrelated state kept, the new code of
/// a module two imports away runs, dispose callbacks run, and failed versions leave the old
/// code running until a good edit.
fn reload_scenario(
    node: &str,
    files: Vec<(&'static str, String)>,
    entry: &str,
    leaf: &str,
    esm_leaf: bool,
) {
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let mut app = App::start(node, &files, entry);
    let first = app.probe();
    assert!(first.starts_with("state: view(v1) count=1 pid="), "{first}");
    let pid = pid_of(&first).to_owned();
    let export = |body: &str| {
        if esm_leaf {
            format!("export const fmt = () => {body};\n")
        } else {
            format!("exports.fmt = () => {body};\n")
        }
    };

    // A transitive change: the module importing it and the entry run again.
    app.write(leaf, &export("'v2'"));
    let line = app.expect_reloaded();
    assert!(line.contains(leaf) && line.contains(entry), "{line}");
    app.expect_out("`disposed main`", |l| l == "disposed main");
    let second = app.probe();
    assert_eq!(
        second,
        format!("state: view(v2) count=2 pid={pid}"),
        "new code, same state, same process"
    );

    // A syntax error: nothing changes, the error says where.
    app.write(leaf, &export(""));
    let line = app.expect_failed();
    assert!(line.contains(&format!("{leaf}:1")), "{line}");
    assert!(line.contains("SyntaxError"), "{line}");
    assert_eq!(app.probe(), format!("state: view(v2) count=3 pid={pid}"));

    // A module whose top level throws: the old code keeps running.
    let throwing = format!("throw new Error('boom at the top');\n{}", export("'v3'"));
    app.write(leaf, &throwing);
    let line = app.expect_failed();
    assert!(
        line.contains("boom at the top") && line.contains(&format!("{leaf}:1")),
        "{line}"
    );
    assert_eq!(app.probe(), format!("state: view(v2) count=4 pid={pid}"));

    // The next good edit recovers.
    app.write(leaf, &export("'v4'"));
    app.expect_reloaded();
    assert_eq!(app.probe(), format!("state: view(v4) count=5 pid={pid}"));
    // Dispose ran for the two successful reloads only.
    assert_eq!(app.out.count("disposed main"), 2);
}

#[test]
fn esm_app_reloads_a_transitive_module_in_place() {
    for node in nodes() {
        eprintln!("node {}", node_version(&node));
        reload_scenario(&node, esm_app(), "main.mjs", "format.mjs", true);
    }
}

#[test]
fn cjs_app_reloads_a_transitive_module_in_place() {
    for node in nodes() {
        eprintln!("node {}", node_version(&node));
        reload_scenario(&node, cjs_app(), "main.cjs", "format.cjs", false);
    }
}

#[test]
fn mixed_app_reloads_commonjs_under_an_es_module_entry() {
    for node in nodes() {
        eprintln!("node {}", node_version(&node));
        reload_scenario(&node, mixed_app(), "main.mjs", "format.cjs", false);
    }
}

/// A computed `require` (the static graph cannot see it) that runs after the process's edges
/// were last read: editing the file it loads still reloads its importers.
#[test]
fn cjs_require_made_after_a_reload_is_followed() {
    for node in nodes() {
        eprintln!("node {}", node_version(&node));
        let mut files = cjs_app();
        files.push((
            "view.cjs",
            "const { fmt } = require('./format.cjs');\n\
             exports.render = () => `view(${fmt()},${require('./' + 'late.cjs').late})`;\n"
                .into(),
        ));
        files.retain(|(name, text)| *name != "view.cjs" || text.contains("late"));
        files.push(("late.cjs", "exports.late = 'l1';\n".into()));
        let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
        let mut app = App::start(&node, &files, "main.cjs");
        // A reload that leaves view.cjs alone: the process's edges are read now.
        app.write("state.cjs", "let n = 10;\nexports.counter = () => ++n;\n");
        let line = app.expect_reloaded();
        assert!(!line.contains("view.cjs"), "{line}");
        // The first render requires late.cjs: a new edge of the old view.cjs.
        let first = app.probe();
        assert!(
            first.starts_with("state: view(v1,l1) count=11 pid="),
            "{first}"
        );
        // `modgraph run` hears of late.cjs through a `modules/loaded` notification, which may
        // come after this save: either way the save is reloaded.
        app.write("late.cjs", "exports.late = 'l2';\n");
        let line = app.expect_reloaded();
        assert!(
            line.contains("late.cjs") && line.contains("view.cjs") && line.contains("main.cjs"),
            "{line}"
        );
        let second = app.probe();
        assert!(
            second.starts_with("state: view(v1,l2) count=12 pid="),
            "{second}"
        );
    }
}

/// Modules above an edited one run again on every reload, unchanged (from the second reload on,
/// as the function compiled the time before): each run starts from fresh module state with its
/// own `require` and `__filename`, an error thrown there points into it, and a module that
/// imports dynamically keeps doing so.
#[test]
fn unchanged_cjs_modules_run_again_fresh_on_every_reload() {
    for node in nodes() {
        eprintln!("node {}", node_version(&node));
        let mut files = cjs_app_with_view(
            "const { fmt } = require('./dyn.cjs');
\
             let calls = 0;
\
             globalThis.viewRuns = (globalThis.viewRuns || 0) + 1;
\
             const runs = globalThis.viewRuns;
\
             if (fmt() === 'bad') throw new Error('view refuses bad');
\
             const own = require.resolve('./format.cjs') === require('node:path').join(__dirname, 'format.cjs');
\
             exports.render = () => `view(${fmt()},runs=${runs},calls=${++calls},${own})`;
",
        );
        files.push((
            "dyn.cjs",
            "const { fmt } = require('./format.cjs');
\
             import('./extra.mjs').then((m) => console.log(`extra ${m.value} ${fmt()}`));
\
             exports.fmt = fmt;
"
            .into(),
        ));
        files.push((
            "extra.mjs",
            "export const value = 'e1';
"
            .into(),
        ));
        let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
        let mut app = App::start(&node, &files, "main.cjs");
        app.expect_out("`extra e1 v1`", |l| l == "extra e1 v1");
        let first = app.probe();
        assert!(
            first.starts_with("state: view(v1,runs=1,calls=1,true) count=1 pid="),
            "{first}"
        );
        app.probe();
        for (k, version) in ["v2", "v3"].iter().enumerate() {
            app.write("format.cjs", &format!("exports.fmt = () => '{version}';\n"));
            let line = app.expect_reloaded();
            assert!(
                line.contains("view.cjs") && line.contains("dyn.cjs"),
                "{line}"
            );
            app.expect_out("`extra …`", |l| l == format!("extra e1 {version}"));
            let state = app.probe();
            let runs = k + 2;
            assert!(
                state.starts_with(&format!("state: view({version},runs={runs},calls=1,true)")),
                "{state}"
            );
        }
        // An error thrown by a module that did not change: located in it, the old code stays.
        app.write("format.cjs", "exports.fmt = () => 'bad';\n");
        let line = app.expect_failed();
        assert!(
            line.contains("view refuses bad") && line.contains("view.cjs:5:"),
            "{line}"
        );
        let state = app.probe();
        assert!(
            state.starts_with("state: view(v3,runs=3,calls=2,true)"),
            "{state}"
        );
        app.write("format.cjs", "exports.fmt = () => 'v5';\n");
        app.expect_reloaded();
        let state = app.probe();
        assert!(
            state.starts_with("state: view(v5,runs=5,calls=1,true)"),
            "{state}"
        );
    }
}

/// An edge only the process knows (a computed `require`) outlives a failed reload of its
/// importer, whose new version required something else before it threw.
#[test]
fn cjs_edge_known_only_to_the_process_survives_a_failed_reload() {
    for node in nodes() {
        eprintln!("node {}", node_version(&node));
        let mut files = cjs_app_with_view(
            "const { fmt } = require('./format.cjs');\n\
             const { late } = require('./' + 'late.cjs');\n\
             exports.render = () => `view(${fmt()},${late})`;\n",
        );
        files.push(("late.cjs", "exports.late = 'l1';\n".into()));
        let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
        let mut app = App::start(&node, &files, "main.cjs");
        let first = app.probe();
        assert!(
            first.starts_with("state: view(v1,l1) count=1 pid="),
            "{first}"
        );
        // The new view.cjs loads format.cjs, not late.cjs, then throws: the old one stays.
        app.write(
            "view.cjs",
            "require('./format.cjs');\nthrow new Error('view is broken');\n",
        );
        let line = app.expect_failed();
        assert!(line.contains("view is broken"), "{line}");
        // The old view.cjs still loads late.cjs: editing it runs view.cjs from disk again,
        // which still throws (a reload of late.cjs alone would succeed and change nothing).
        app.write("late.cjs", "exports.late = 'l2';\n");
        let line = app.expect_failed();
        assert!(line.contains("view is broken"), "{line}");
        // Repaired: view.cjs runs again (late.cjs keeps the version that was evaluated last:
        // a failed version waits for the next edit), and editing late.cjs reloads it.
        app.write(
            "view.cjs",
            "const { late } = require('./' + 'late.cjs');\nexports.render = () => `view(${late})`;\n",
        );
        let line = app.expect_reloaded();
        assert!(
            line.contains("view.cjs") && line.contains("main.cjs"),
            "{line}"
        );
        app.write("late.cjs", "exports.late = 'l3';\n");
        let line = app.expect_reloaded();
        assert!(
            line.contains("late.cjs") && line.contains("view.cjs") && line.contains("main.cjs"),
            "{line}"
        );
        let second = app.probe();
        assert!(
            second.starts_with("state: view(l3) count=2 pid="),
            "{second}"
        );
    }
}

/// Two ES module boundaries above one changed module: both take their new versions, which are
/// linked together, so when one of them cannot link, neither runs and the old code stays.
#[test]
fn esm_boundaries_above_one_change_reload_together_or_not_at_all() {
    for node in nodes() {
        eprintln!("node {}", node_version(&node));
        let main = format!(
            "import * as a from './a.mjs';\nimport * as b from './b.mjs';\nimport {{ counter }} from './state.mjs';\n\
             const current = {{ a, b }};\nconst render = () => `${{current.a.name()}}+${{current.b.name()}}`;\n{STDIN_PROBE}\
             import.meta.hot?.accept('./a.mjs', (next) => {{ current.a = next; }});\n\
             import.meta.hot?.accept('./b.mjs', (next) => {{ current.b = next; }});\nconsole.log('ready');\n"
        );
        let files = [
            ("main.mjs", main.as_str()),
            (
                "a.mjs",
                "import { word } from './shared.mjs';\nconsole.log(`a ran ${word}`);\nexport const name = () => `a(${word})`;\n",
            ),
            (
                "b.mjs",
                "import { word, extra } from './shared.mjs';\nexport const name = () => `b(${word}${extra})`;\n",
            ),
            (
                "shared.mjs",
                "export const word = 'w1';\nexport const extra = '!';\n",
            ),
            (
                "state.mjs",
                "let n = 0;\nexport const counter = () => ++n;\n",
            ),
        ];
        let mut app = App::start(&node, &files, "main.mjs");
        let first = app.probe();
        assert!(
            first.starts_with("state: a(w1)+b(w1!) count=1 pid="),
            "{first}"
        );
        let pid = pid_of(&first).to_owned();

        app.write(
            "shared.mjs",
            "export const word = 'w2';\nexport const extra = '?';\n",
        );
        let line = app.expect_reloaded();
        assert!(line.contains("a.mjs") && line.contains("b.mjs"), "{line}");
        assert_eq!(
            app.probe(),
            format!("state: a(w2)+b(w2?) count=2 pid={pid}")
        );
        assert_eq!(app.out.count("a ran w2"), 1);

        // b.mjs cannot link against the new shared.mjs: a.mjs, which could, does not run either.
        app.write("shared.mjs", "export const word = 'w3';\n");
        let line = app.expect_failed();
        assert!(line.contains("extra"), "{line}");
        assert_eq!(
            app.probe(),
            format!("state: a(w2)+b(w2?) count=3 pid={pid}")
        );
        assert_eq!(app.out.count("a ran w3"), 0);
    }
}

const SERVER: &str = r#"import http from 'node:http';
import { handle } from './handler.mjs';
let current = handle;
const server = http.createServer((req, res) => current(req, res));
server.listen(0, '127.0.0.1', () => { console.log(`port: ${server.address().port}`); console.log('ready'); });
import.meta.hot?.accept('./handler.mjs', (next) => { current = next.handle; });
"#;

fn get(port: u16) -> Result<String, String> {
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    if !response.starts_with("HTTP/1.1 200") {
        return Err(response);
    }
    Ok(response.rsplit("\r\n\r\n").next().unwrap_or("").to_owned())
}

#[test]
fn http_server_answers_every_request_during_100_reloads() {
    for node in nodes() {
        eprintln!("node {}", node_version(&node));
        let handler =
            |n: usize| format!("export const handle = (req, res) => res.end('version {n}');\n");
        let first = handler(0);
        let app = App::start(
            &node,
            &[("server.mjs", SERVER), ("handler.mjs", &first)],
            "server.mjs",
        );
        let port_line = app
            .out
            .seen
            .lock()
            .expect("lines")
            .iter()
            .find(|l| l.starts_with("port: "))
            .cloned();
        let port: u16 = port_line
            .and_then(|l| l.trim_start_matches("port: ").parse().ok())
            .expect("the server printed its port");
        assert_eq!(get(port).as_deref(), Ok("version 0"));

        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let load = {
            let (stop, answered, failures) = (
                Arc::clone(&stop),
                Arc::clone(&answered),
                Arc::clone(&failures),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match get(port) {
                        Ok(body) if body.starts_with("version ") => {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(body) => failures.lock().expect("failures").push(body),
                        Err(error) => failures.lock().expect("failures").push(error),
                    }
                }
            })
        };
        for n in 1..=100 {
            app.write("handler.mjs", &handler(n));
            let line = app.expect_reloaded();
            assert!(
                line.starts_with("modgraph: reloaded 1 module"),
                "only the handler reloads: {line}"
            );
        }
        stop.store(true, Ordering::Relaxed);
        load.join().expect("load thread");
        assert_eq!(get(port).as_deref(), Ok("version 100"));
        assert!(
            failures.lock().expect("failures").is_empty(),
            "{:?}",
            failures.lock()
        );
        assert!(answered.load(Ordering::Relaxed) > 0);
    }
}

/// A Node process with the agent preloaded by hand, and its discovery record.
struct Agent {
    dir: tempfile::TempDir,
    runtime_dir: PathBuf,
    child: Child,
    stdin: ChildStdin,
    out: Lines,
    record: serde_json::Value,
}

impl Agent {
    fn start(node: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = esm_app();
        for (name, text) in &files {
            std::fs::write(dir.path().join(name), text).expect("write fixture");
        }
        let runtime_dir = dir.path().join(".runtime");
        std::fs::create_dir(&runtime_dir).expect("runtime dir");
        let agent = Command::new(env!("CARGO_BIN_EXE_modgraph"))
            .arg("agent")
            .env("MODGRAPH_CACHE_DIR", dir.path().join(".cache"))
            .output()
            .expect("modgraph agent");
        assert!(agent.status.success());
        let agent_path = String::from_utf8_lossy(&agent.stdout).trim().to_owned();
        let mut child = Command::new(node)
            .arg("--import")
            .arg(&agent_path)
            .arg("main.mjs")
            .current_dir(dir.path())
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node");
        let stdin = child.stdin.take().expect("stdin");
        let out = Lines::spawn(child.stdout.take().expect("stdout"));
        out.expect("`ready`", |l| l == "ready");
        let record_path = runtime_dir
            .join("modgraph")
            .join(format!("{}.json", child.id()));
        // The record is written when the endpoint listens, right after start: read it once
        // the program answers a probe (its event loop has run by then).
        let mut agent = Self {
            dir,
            runtime_dir,
            child,
            stdin,
            out,
            record: serde_json::Value::Null,
        };
        agent.probe();
        let text = std::fs::read_to_string(&record_path).expect("discovery record");
        agent.record = serde_json::from_str(&text).expect("record is JSON");
        agent
    }

    fn probe(&mut self) -> String {
        writeln!(self.stdin, "probe").expect("write probe");
        self.stdin.flush().expect("flush");
        self.out.expect("`state: …`", |l| l.starts_with("state: "))
    }

    fn socket(&self) -> PathBuf {
        let endpoint = self.record["endpoint"].as_str().expect("endpoint");
        PathBuf::from(endpoint.strip_prefix("unix:").expect("a unix socket"))
    }

    fn token(&self) -> String {
        self.record["token"].as_str().expect("token").to_owned()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// Sends `lines`, reads one answer per line, and then, when `then_closed`, reads on until the
/// agent closes the connection (which must happen). Returns the answers.
fn exchange(socket: &Path, lines: &[&[u8]], then_closed: bool) -> Vec<serde_json::Value> {
    let mut stream = UnixStream::connect(socket).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    for line in lines {
        // The agent may close before reading everything; later writes may then fail.
        if stream.write_all(line).is_err() {
            break;
        }
    }
    let mut reader = BufReader::new(stream);
    let mut answers = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {
                answers.push(serde_json::from_str(&line).expect("the agent answers JSON"));
                if answers.len() == lines.len() && !then_closed {
                    return answers;
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(error) => panic!("reading from the agent: {error}"),
        }
    }
    assert!(
        then_closed,
        "the agent closed a connection it should keep: {answers:?}"
    );
    answers
}

#[test]
fn endpoint_is_private_and_refuses_strangers() {
    for node in nodes() {
        eprintln!("node {}", node_version(&node));
        let mut agent = Agent::start(&node);
        let folder = agent.runtime_dir.join("modgraph");
        assert_eq!(mode(&folder), 0o700, "the discovery folder is private");
        assert_eq!(
            mode(&agent.socket()),
            0o600,
            "the socket is the user's only"
        );
        let record = folder.join(format!("{}.json", agent.child.id()));
        assert_eq!(mode(&record), 0o600, "the record holds the token");
        let socket = agent.socket();

        // No hello: refused and disconnected.
        let answers = exchange(
            &socket,
            &[b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"modules/list\"}\n"],
            true,
        );
        assert_eq!(answers[0]["error"]["code"], -32001);
        // A wrong token.
        let answers = exchange(
            &socket,
            &[b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"hello\",\"params\":{\"token\":\"guess\"}}\n"],
            true,
        );
        assert_eq!(answers[0]["error"]["code"], -32001);
        // Garbage.
        let answers = exchange(&socket, &[b"\x00\xff{{not json\n"], true);
        assert_eq!(answers[0]["error"]["code"], -32700);
        // A message larger than the limit, without a newline.
        let big = vec![b'x'; 2 << 20];
        let answers = exchange(&socket, &[&big], true);
        assert_eq!(answers[0]["error"]["code"], -32600);

        // The right token opens the door; later garbage is answered but keeps the connection.
        let hello = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"hello\",\"params\":{{\"token\":\"{}\"}}}}\n",
            agent.token()
        );
        let answers = exchange(
            &socket,
            &[
                hello.as_bytes(),
                b"]]]\n",
                b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"}\n",
                b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"modules/list\"}\n",
            ],
            false,
        );
        assert_eq!(answers[0]["result"]["pid"], agent.child.id());
        assert_eq!(answers[1]["error"]["code"], -32700);
        assert_eq!(answers[2]["error"]["code"], -32601);
        let listed = answers[3]["result"]["modules"]
            .as_array()
            .expect("modules")
            .len();
        assert_eq!(listed, 4, "{}", answers[3]);

        // Several clients at once: each is answered on its own connection.
        let mut first = UnixStream::connect(&socket).expect("connect");
        let mut second = UnixStream::connect(&socket).expect("connect");
        for stream in [&mut first, &mut second] {
            stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
            stream.write_all(hello.as_bytes()).expect("hello");
        }
        for stream in [&first, &second] {
            let mut line = String::new();
            BufReader::new(stream).read_line(&mut line).expect("answer");
            let answer: serde_json::Value = serde_json::from_str(&line).expect("JSON");
            assert_eq!(answer["result"]["pid"], agent.child.id());
        }
        drop((first, second));

        // Only files of the program's own tree can be reloaded.
        let answers = exchange(
            &socket,
            &[
                hello.as_bytes(),
                b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"reload\",\"params\":{\"changed\":[\"/etc/passwd\"]}}\n",
            ],
            false,
        );
        assert_eq!(answers[1]["result"]["ok"], false, "{}", answers[1]);
        assert_eq!(answers[1]["result"]["error"]["name"], "ReloadRefused");

        // A client that asks for a reload and vanishes: the reload still happens.
        let format_path = agent.dir.path().join("format.mjs");
        std::fs::write(&format_path, "export const fmt = () => 'v9';\n").expect("edit");
        {
            let mut stream = UnixStream::connect(&socket).expect("connect");
            let reload = format!(
                "{hello}{{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"reload\",\"params\":{{\"changed\":[{}]}}}}\n",
                serde_json::to_string(&format_path).expect("path")
            );
            stream.write_all(reload.as_bytes()).expect("send");
        }
        agent
            .out
            .expect("`disposed main`", |l| l == "disposed main");
        let state = agent.probe();
        assert!(
            state.starts_with("state: view(v9) count=2 pid="),
            "the app still runs: {state}"
        );
    }
}

const WORKER_MAIN: &str = r#"import { workerModule } from 'modgraph/worker';
const render = workerModule(new URL('./render.mjs', import.meta.url));
let buffer = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  let i;
  while ((i = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, i);
    buffer = buffer.slice(i + 1);
    if (line === 'probe') render.call('page', 'x').then((text) => console.log(`state: ${text} pid=${process.pid}`));
    if (line === 'slow') render.call('slow').then((text) => console.log(`slow: ${text}`));
  }
});
console.log('ready');
"#;

const WORKER_RENDER: &str = r#"import fs from 'node:fs';
import { tag } from './tag.mjs';
export const page = (text) => `${tag}:${text}`;
export const slow = () => new Promise((resolve) => {
  console.log('slow started');
  const check = () => (fs.existsSync('release') ? resolve(`${tag}-slow`) : setTimeout(check, 5));
  check();
});
"#;

#[test]
fn worker_module_gets_a_fresh_worker_while_calls_in_flight_finish_on_the_old_one() {
    for node in nodes() {
        eprintln!("node {}", node_version(&node));
        let mut app = App::start(
            &node,
            &[
                ("main.mjs", WORKER_MAIN),
                ("render.mjs", WORKER_RENDER),
                ("tag.mjs", "export const tag = 'v1';\n"),
            ],
            "main.mjs",
        );
        let first = app.probe();
        assert!(first.starts_with("state: v1:x pid="), "{first}");
        // A call that stays in flight across the reload.
        writeln!(app.stdin, "slow").expect("write");
        app.expect_out("`slow started`", |l| l == "slow started");

        app.write("tag.mjs", "export const tag = 'v2';\n");
        let line = app.expect_err("a fresh worker", |l| {
            l.contains("started a fresh worker for render.mjs")
        });
        assert!(line.starts_with("modgraph: reloaded workers"), "{line}");
        let second = app.probe();
        assert_eq!(second, format!("state: v2:x pid={}", pid_of(&first)));

        std::fs::write(app.path("release"), "").expect("release the slow call");
        let slow = app.expect_out("`slow: …`", |l| l.starts_with("slow: "));
        assert_eq!(
            slow, "slow: v1-slow",
            "the call in flight finished on the old worker"
        );
    }
}

const WIDGET_HOST: &str = r#"import * as first from './widget.mjs';
let latest = first;
globalThis.__setWidget = (next) => { latest = next; };
let buffer = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  let i;
  while ((i = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, i);
    buffer = buffer.slice(i + 1);
    if (line === 'probe') console.log(`state: ${latest.version} runs=${latest.runs}`);
  }
});
import.meta.hot?.dispose(() => console.log('disposed main'));
console.log('ready');
"#;

fn esm_widget(version: &str) -> String {
    format!(
        "export const version = '{version}';\n\
         export const runs = (import.meta.hot?.data.runs ?? 0) + 1;\n\
         import.meta.hot?.dispose((data) => {{ data.runs = runs; }});\n\
         import.meta.hot?.accept((next) => globalThis.__setWidget(next));\n"
    )
}

const CJS_WIDGET_HOST: &str = r#"let latest = require('./widget.cjs');
global.__setWidget = (next) => { latest = next; };
let buffer = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  let i;
  while ((i = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, i);
    buffer = buffer.slice(i + 1);
    if (line === 'probe') console.log(`state: ${latest.version} runs=${latest.runs}`);
  }
});
module.hot.dispose(() => console.log('disposed main'));
console.log('ready');
"#;

fn cjs_widget(version: &str) -> String {
    format!(
        "exports.version = '{version}';\n\
         exports.runs = ((module.hot && module.hot.data.runs) || 0) + 1;\n\
         module.hot.dispose((data) => {{ data.runs = exports.runs; }});\n\
         module.hot.accept((next) => global.__setWidget(next));\n"
    )
}

/// A self-accepting module is its own boundary: only it runs again, its accept callback gets
/// the new version, and `hot.data` carries state from the old version to the new one.
fn self_accept_scenario(
    node: &str,
    host: &str,
    entry: &str,
    widget: &str,
    text: fn(&str) -> String,
) {
    let first = text("w1");
    let mut app = App::start(node, &[(entry, host), (widget, &first)], entry);
    assert_eq!(app.probe(), "state: w1 runs=1");
    for (n, version) in ["w2", "w3"].iter().enumerate() {
        app.write(widget, &text(version));
        let line = app.expect_reloaded();
        assert!(
            line.starts_with("modgraph: reloaded 1 module in") && line.contains(widget),
            "{line}"
        );
        assert_eq!(app.probe(), format!("state: {version} runs={}", n + 2));
    }
    assert_eq!(
        app.out.count("disposed main"),
        0,
        "the entry never ran again"
    );
}

#[test]
fn self_accepting_modules_stop_the_reload_and_hand_over_their_data() {
    for node in nodes() {
        eprintln!("node {}", node_version(&node));
        self_accept_scenario(&node, WIDGET_HOST, "main.mjs", "widget.mjs", esm_widget);
        self_accept_scenario(&node, CJS_WIDGET_HOST, "main.cjs", "widget.cjs", cjs_widget);
    }
}

const SIGNALLED: &str = r#"process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(7); });
process.on('SIGINT', () => { console.log('got SIGINT'); process.exit(8); });
process.stdin.setEncoding('utf8');
process.stdin.on('data', (line) => { if (line.startsWith('exit')) process.exit(3); });
console.log('ready');
"#;

#[test]
fn signals_reach_the_program_and_its_exit_code_comes_back() {
    let node = nodes().remove(0);
    for (signal, expected_line, expected_code) in [
        (None, None, 3),
        (Some(libc::SIGTERM), Some("got SIGTERM"), 7),
        (Some(libc::SIGINT), Some("got SIGINT"), 8),
    ] {
        let mut app = App::start(&node, &[("app.mjs", SIGNALLED)], "app.mjs");
        match signal {
            None => writeln!(app.stdin, "exit").expect("write"),
            Some(signal) => {
                // SAFETY: signalling our own child (modgraph run, not Node).
                unsafe { libc::kill(i32::try_from(app.child.id()).expect("pid"), signal) };
            }
        }
        if let Some(line) = expected_line {
            app.expect_out(line, |l| l == line);
        }
        let status = app.child.wait().expect("wait");
        assert_eq!(status.code(), Some(expected_code));
    }
}

#[test]
fn a_runtime_folder_too_long_for_a_socket_path_still_works() {
    let node = nodes().remove(0);
    let long = format!(".runtime/{}", "a-rather-long-folder-name".repeat(5));
    let files = esm_app();
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let mut app = App::start_with_runtime_dir(&node, &files, "main.mjs", &long);
    assert!(app.probe().starts_with("state: view(v1)"));
    app.write("format.mjs", "export const fmt = () => 'v2';\n");
    app.expect_reloaded();
    assert!(app.probe().starts_with("state: view(v2)"));
}

/// Runs `modgraph ARGS` in `root` with `runtime_dir` as its `XDG_RUNTIME_DIR`.
fn modgraph_in(root: &Path, runtime_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_modgraph"))
        .args(args)
        .current_dir(root)
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .env("MODGRAPH_CACHE_DIR", root.join(".cache"))
        .output()
        .expect("run modgraph")
}

/// A workspace and a Node process that preloaded the agent itself (no `modgraph run`), with
/// `modgraph` commands run in that workspace.
struct Preloaded {
    _dir: tempfile::TempDir,
    root: PathBuf,
    runtime_dir: PathBuf,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    out: Option<Lines>,
}

impl Preloaded {
    fn workspace(files: Vec<(&'static str, String)>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        for (name, text) in files {
            std::fs::write(root.join(name), text).expect("write fixture");
        }
        let runtime_dir = root.join(".runtime");
        std::fs::create_dir(&runtime_dir).expect("runtime dir");
        Self {
            _dir: dir,
            root,
            runtime_dir,
            child: None,
            stdin: None,
            out: None,
        }
    }

    fn modgraph(&self, args: &[&str]) -> std::process::Output {
        modgraph_in(&self.root, &self.runtime_dir, args)
    }

    /// Starts `node <preload> <agent> <entry>` and waits for `ready`.
    fn start(&mut self, node: &str, preload: &str, agent: &str, entry: &str) -> u32 {
        let mut child = Command::new(node)
            .args([preload, agent, entry])
            .current_dir(&self.root)
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start node");
        self.stdin = child.stdin.take();
        let out = Lines::spawn(child.stdout.take().expect("stdout"));
        out.expect("`ready`", |l| l == "ready");
        self.out = Some(out);
        let pid = child.id();
        self.child = Some(child);
        pid
    }

    fn probe(&mut self) -> String {
        let stdin = self.stdin.as_mut().expect("started");
        writeln!(stdin, "probe").expect("probe");
        let out = self.out.as_ref().expect("started");
        out.expect("`state: …`", |l| l.starts_with("state: "))
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.root.join(name), text).expect("edit");
    }
}

impl Drop for Preloaded {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn modgraph_reload_reaches_a_process_that_preloaded_the_commonjs_agent() {
    let node = nodes().remove(0);
    let mut app = Preloaded::workspace(cjs_app());
    // Nothing runs yet: a clear error, exit code 2.
    let none = app.modgraph(&["reload"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("modgraph run"));

    let agent = app.modgraph(&["agent", "--cjs"]);
    let agent = String::from_utf8_lossy(&agent.stdout).trim().to_owned();
    assert!(agent.ends_with("agent.cjs"), "{agent}");
    let pid = app.start(&node, "--require", &agent, "main.cjs");
    assert!(app.probe().starts_with("state: view(v1) count=1"));

    // Up to date: nothing to do.
    let idle = app.modgraph(&["reload"]);
    assert!(idle.status.success());
    assert!(
        String::from_utf8_lossy(&idle.stdout).contains("up to date"),
        "{idle:?}"
    );

    app.write("format.cjs", "exports.fmt = () => 'v2';\n");
    let done = app.modgraph(&["reload", "--json"]);
    assert!(done.status.success(), "{done:?}");
    let report: serde_json::Value = serde_json::from_slice(&done.stdout).expect("JSON");
    assert_eq!(report[0]["pid"], pid);
    assert_eq!(report[0]["result"]["ok"], true, "{report}");
    assert!(app.probe().starts_with("state: view(v2) count=2"));

    // A failing version: exit code 1, the old code keeps running.
    app.write("format.cjs", "exports.fmt = () => ;\n");
    let failed = app.modgraph(&["reload"]);
    assert_eq!(failed.status.code(), Some(1));
    let text = String::from_utf8_lossy(&failed.stdout);
    assert!(text.contains("reload failed at format.cjs:1"), "{text}");
    assert!(app.probe().starts_with("state: view(v2) count=3"));
}

#[test]
fn a_process_that_dies_during_a_reload_ends_the_run_with_its_exit_code() {
    let node = nodes().remove(0);
    let files = esm_app();
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let mut app = App::start(&node, &files, "main.mjs");
    app.probe();
    // The new version ends the process while it is being evaluated.
    app.write(
        "format.mjs",
        "process.exit(5);\nexport const fmt = () => 'v2';\n",
    );
    let status = app.child.wait().expect("wait");
    assert_eq!(status.code(), Some(5));
    let stderr = app.err.all().join("\n");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn two_clients_reloading_at_once_are_served_one_after_the_other() {
    let node = nodes().remove(0);
    let mut app = Preloaded::workspace(esm_app());
    let agent = app.modgraph(&["agent"]);
    let agent = String::from_utf8_lossy(&agent.stdout).trim().to_owned();
    app.start(&node, "--import", &agent, "main.mjs");
    assert!(app.probe().starts_with("state: view(v1)"));

    app.write("format.mjs", "export const fmt = () => 'v2';\n");
    let (root, runtime_dir) = (app.root.clone(), app.runtime_dir.clone());
    let both: Vec<std::process::Output> = std::thread::scope(|scope| {
        let first = scope.spawn(|| modgraph_in(&root, &runtime_dir, &["reload", "format.mjs"]));
        let second = scope.spawn(|| modgraph_in(&root, &runtime_dir, &["reload", "format.mjs"]));
        vec![first.join().expect("first"), second.join().expect("second")]
    });
    for output in &both {
        assert!(output.status.success(), "{output:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("reloaded 3 modules"),
            "{output:?}"
        );
    }
    let state = app.probe();
    assert!(state.starts_with("state: view(v2) count=2"), "{state}");
}

#[test]
fn modgraph_reload_reports_a_process_that_dies_during_the_reload() {
    let node = nodes().remove(0);
    let mut app = Preloaded::workspace(esm_app());
    let agent = app.modgraph(&["agent"]);
    let agent = String::from_utf8_lossy(&agent.stdout).trim().to_owned();
    let pid = app.start(&node, "--import", &agent, "main.mjs");
    assert!(app.probe().starts_with("state: view(v1)"));

    app.write(
        "format.mjs",
        "process.exit(5);\nexport const fmt = () => 'v2';\n",
    );
    let reload = app.modgraph(&["reload"]);
    assert_eq!(reload.status.code(), Some(1), "{reload:?}");
    let stderr = String::from_utf8_lossy(&reload.stderr);
    assert!(
        stderr.contains(&format!("pid {pid}: the runtime closed the connection")),
        "{stderr}"
    );
    let status = app.child.as_mut().expect("started").wait().expect("wait");
    assert_eq!(status.code(), Some(5));
    // The process removed its record on the way out: nothing left to reload.
    let again = app.modgraph(&["reload"]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
}

/// Writes a discovery record into `folder` as the agent would (mode 0600).
fn plant_record(folder: &Path, name: &str, pid: u32, cwd: &Path, socket: &Path) -> PathBuf {
    let path = folder.join(name);
    let record = serde_json::json!({
        "pid": pid, "cwd": cwd, "endpoint": format!("unix:{}", socket.display()),
        "token": "0".repeat(48), "protocol": 1,
    });
    std::fs::write(&path, record.to_string()).expect("write record");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

fn chown(path: &Path, uid: u32) {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::lchown(c_path.as_ptr(), uid, uid) },
        0,
        "chown"
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn stale_and_foreign_records_are_not_reloaded() {
    let app = Preloaded::workspace(esm_app());
    let folder = app.runtime_dir.join("modgraph");
    std::fs::create_dir(&folder).expect("mkdir");
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    // A record of a live process (this test, as if its pid had been reused) whose socket is
    // gone, and one whose socket nobody listens on.
    let me = std::process::id();
    let gone = plant_record(&folder, "1.json", me, &app.root, &folder.join("gone.sock"));
    let orphan_socket = folder.join("orphan.sock");
    drop(std::os::unix::net::UnixListener::bind(&orphan_socket).expect("bind"));
    let orphan = plant_record(&folder, "2.json", me, &app.root, &orphan_socket);
    // A record of another user's, naming a socket that listens.
    let listening = folder.join("listening.sock");
    let listener = std::os::unix::net::UnixListener::bind(&listening).expect("bind");
    let foreign = plant_record(&folder, "3.json", me, &app.root, &listening);
    if is_root() {
        chown(&foreign, 65534);
    } else {
        std::fs::remove_file(&foreign).expect("remove");
        eprintln!("skipped the foreign record: giving a file to another user needs root");
    }

    let reload = app.modgraph(&["reload"]);
    assert_eq!(reload.status.code(), Some(2), "{reload:?}");
    assert!(
        String::from_utf8_lossy(&reload.stderr).contains("no running Node process"),
        "{reload:?}"
    );
    assert!(
        !gone.exists() && !orphan.exists(),
        "stale records are removed"
    );
    assert!(!orphan_socket.exists(), "the stale socket is removed");
    if is_root() {
        assert!(foreign.exists(), "another user's record is left alone");
        listener.set_nonblocking(true).expect("nonblocking");
        assert!(
            listener.accept().is_err(),
            "another user's record was connected to"
        );
    }

    // A discovery folder others can enter is refused with the fix in the message.
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let refused = app.modgraph(&["reload"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("chmod 700"), "{stderr}");
}

/// The temp folder already holds another user's `modgraph-<uid>` where the socket would go
/// (the runtime folder is too long for a socket path): `modgraph run` refuses before starting
/// Node, and an agent started by hand runs the program without an endpoint.
#[test]
fn a_socket_fallback_folder_of_another_user_is_refused() {
    if !is_root() {
        eprintln!("skipped: giving a folder to another user needs root");
        return;
    }
    let node = nodes().remove(0);
    let app = Preloaded::workspace(esm_app());
    let tmp = app.root.join("tmp");
    std::fs::create_dir(&tmp).expect("mkdir");
    // SAFETY: getuid has no preconditions.
    let taken = tmp.join(format!("modgraph-{}", unsafe { libc::getuid() }));
    std::fs::create_dir(&taken).expect("mkdir");
    std::fs::set_permissions(&taken, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    chown(&taken, 65534);
    let long_runtime = app.runtime_dir.join("x".repeat(100));
    std::fs::create_dir_all(&long_runtime).expect("mkdir");

    let run = Command::new(env!("CARGO_BIN_EXE_modgraph"))
        .args(["run", "--", &node, "main.mjs"])
        .current_dir(&app.root)
        .env("XDG_RUNTIME_DIR", &long_runtime)
        .env("TMPDIR", &tmp)
        .env("MODGRAPH_CACHE_DIR", app.root.join(".cache"))
        .stdin(Stdio::null())
        .output()
        .expect("modgraph run");
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("belongs to user 65534"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&run.stdout).contains("ready"),
        "Node was not started"
    );

    let agent = app.modgraph(&["agent"]);
    let agent = String::from_utf8_lossy(&agent.stdout).trim().to_owned();
    let mut child = Command::new(&node)
        .args(["--import", &agent, "main.mjs"])
        .current_dir(&app.root)
        .env("XDG_RUNTIME_DIR", &long_runtime)
        .env("TMPDIR", &tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut stdin = child.stdin.take().expect("stdin");
    let out = Lines::spawn(child.stdout.take().expect("stdout"));
    let err = Lines::spawn(child.stderr.take().expect("stderr"));
    out.expect("`ready`", |l| l == "ready");
    err.expect("the endpoint warning", |l| {
        l.contains("could not open its control endpoint")
            && l.contains("not a directory owned by this user")
    });
    writeln!(stdin, "probe").expect("probe");
    out.expect("`state: …`", |l| l.starts_with("state: view(v1)"));
    assert_eq!(
        std::fs::read_dir(&taken).expect("read").count(),
        0,
        "nothing was put into the other user's folder"
    );
    let records = long_runtime.join("modgraph");
    let published = std::fs::read_dir(&records).map_or(0, |d| d.count());
    assert_eq!(published, 0, "no record without an endpoint");
    let _ = child.kill();
    let _ = child.wait();
}

/// `MODGRAPH_AGENT_SOCKET` (chosen by `modgraph run`, which never names a live socket) names a
/// socket file left behind by a process that is gone: the agent replaces it and listens.
#[test]
fn the_agent_replaces_a_stale_socket_at_its_path() {
    let node = nodes().remove(0);
    let mut app = Preloaded::workspace(esm_app());
    let socket = app.runtime_dir.join("left-behind.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    assert!(UnixStream::connect(&socket).is_err(), "nobody listens");
    let agent = app.modgraph(&["agent"]);
    let agent = String::from_utf8_lossy(&agent.stdout).trim().to_owned();
    let token = "ab".repeat(24);
    let mut child = Command::new(&node)
        .args(["--import", &agent, "main.mjs"])
        .current_dir(&app.root)
        .env("XDG_RUNTIME_DIR", &app.runtime_dir)
        .env("MODGRAPH_AGENT_SOCKET", &socket)
        .env("MODGRAPH_AGENT_TOKEN", &token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start node");
    app.stdin = child.stdin.take();
    app.out = Some(Lines::spawn(child.stdout.take().expect("stdout")));
    let pid = child.id();
    app.child = Some(child);
    app.out
        .as_ref()
        .expect("out")
        .expect("`ready`", |l| l == "ready");
    app.probe(); // the endpoint listens once the event loop has run
    let hello = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"hello\",\"params\":{{\"token\":\"{token}\"}}}}\n"
    );
    let answers = exchange(&socket, &[hello.as_bytes()], false);
    assert_eq!(answers[0]["result"]["pid"], pid, "{answers:?}");
}
