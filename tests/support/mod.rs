//! A small LSP client for tests: spawns the real `modgraph lsp` binary and speaks JSON-RPC over
//! its stdin/stdout, like an editor.

#![allow(dead_code)]

pub mod project;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long to wait for an answer before failing the test (not a timing assertion: a server that
/// never answers would otherwise hang the suite).
const DEADLINE: Duration = Duration::from_secs(60);

pub struct LspClient {
    child: Child,
    /// `None` once the client has gone away.
    stdin: Option<ChildStdin>,
    incoming: Receiver<Vec<Value>>,
    /// Messages received and not handled yet.
    queued: std::collections::VecDeque<Value>,
    next_id: i64,
    /// Latest published diagnostics per URI.
    pub diagnostics: HashMap<String, Vec<Value>>,
    /// Every notification seen, in order.
    pub notifications: Vec<Value>,
    /// Every request and notification from the server, in order.
    pub messages: Vec<Value>,
    /// Whether `notifications` and `messages` keep what arrives. A benchmark turns this off:
    /// an editor does not copy every message it reads.
    pub keep_history: bool,
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
    // A body that is not JSON is kept as text so the test can see it.
    Some(
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| json!({ "unparsable": String::from_utf8_lossy(&body) })),
    )
}

/// Percent-decodes a URI (servers differ in what they escape).
pub fn decode(uri: &str) -> String {
    let bytes = uri.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| u8::from_str_radix(&uri[i + 1..i + 3], 16).ok())
            .flatten();
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

impl LspClient {
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Starts the server with extra environment variables (test knobs).
    pub fn start_with_env(vars: &[(&str, &str)]) -> Self {
        Self::start_program_with_env(
            Path::new(env!("CARGO_BIN_EXE_modgraph")),
            &["lsp", "--stdio"],
            Path::new("."),
            vars,
        )
    }

    /// Starts any language server (benchmarks compare with other servers).
    pub fn start_program(program: &Path, args: &[&str], cwd: &Path) -> Self {
        Self::start_program_with_env(program, args, cwd, &[])
    }

    fn start_program_with_env(
        program: &Path,
        args: &[&str],
        cwd: &Path,
        vars: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .envs(vars.iter().copied())
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // MODGRAPH_TEST_LOG=path keeps the server's log (MODGRAPH_LOG level) for debugging.
            .stderr(
                match std::env::var_os("MODGRAPH_TEST_LOG")
                    .and_then(|p| std::fs::File::create(p).ok())
                {
                    Some(file) => Stdio::from(file),
                    None => Stdio::null(),
                },
            )
            .spawn()
            .expect("the language server starts");
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, incoming) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            // What has arrived goes over in one batch: a hand-over per message would cost the
            // client a thread wake-up per message when the server sends hundreds at once.
            while let Some(first) = read_message(&mut reader) {
                let mut batch = vec![first];
                while !reader.buffer().is_empty() {
                    match read_message(&mut reader) {
                        Some(message) => batch.push(message),
                        None => break,
                    }
                }
                if tx.send(batch).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin: Some(stdin),
            incoming,
            queued: std::collections::VecDeque::new(),
            next_id: 1,
            diagnostics: HashMap::new(),
            notifications: Vec::new(),
            messages: Vec::new(),
            keep_history: true,
        }
    }

    pub fn send(&mut self, message: &Value) {
        let body = serde_json::to_vec(message).expect("JSON");
        let header = format!("Content-Length: {}\r\n\r\n", body.len());
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(header.as_bytes());
            let _ = stdin.write_all(&body);
            let _ = stdin.flush();
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(bytes);
            let _ = stdin.flush();
        }
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Handles one incoming message; returns it when it is a response.
    fn take(&mut self, mut message: Value) -> Option<Value> {
        if message.get("method").is_some() && self.keep_history {
            self.messages.push(message.clone());
        }
        if message.get("method").is_some() && message.get("id").is_some() {
            // A request from the server (registerCapability, configuration, …): accept it.
            let id = message["id"].clone();
            let result = match message["method"].as_str() {
                Some("workspace/configuration") => {
                    let items = message["params"]["items"].as_array().map_or(0, Vec::len);
                    Value::Array(vec![json!({}); items])
                }
                _ => Value::Null,
            };
            self.send(&json!({ "jsonrpc": "2.0", "id": id, "result": result }));
            return None;
        }
        if message.get("method").is_some() {
            if message["method"] == "textDocument/publishDiagnostics" {
                let uri = message["params"]["uri"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let list = match &mut message["params"]["diagnostics"] {
                    Value::Array(list) if !self.keep_history => std::mem::take(list),
                    Value::Array(list) => list.clone(),
                    _ => Vec::new(),
                };
                self.diagnostics.insert(uri, list);
            }
            if self.keep_history {
                self.notifications.push(message);
            }
            return None;
        }
        Some(message)
    }

    /// The next message, waiting until `deadline` at most.
    fn try_next_message(&mut self, deadline: Instant) -> Result<Value, RecvTimeoutError> {
        loop {
            if let Some(message) = self.queued.pop_front() {
                return Ok(message);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            self.queued.extend(self.incoming.recv_timeout(left)?);
        }
    }

    fn next_message(&mut self, deadline: Instant) -> Value {
        match self.try_next_message(deadline) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => {
                panic!("no message from the server within {DEADLINE:?}")
            }
            Err(RecvTimeoutError::Disconnected) => panic!("the server closed its output"),
        }
    }

    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let deadline = Instant::now() + DEADLINE;
        loop {
            let message = self.next_message(deadline);
            if let Some(response) = self.take(message)
                && response["id"] == json!(id)
            {
                return response;
            }
        }
    }

    /// Waits until the latest diagnostics of `uri` satisfy `done`; returns them.
    pub fn wait_diagnostics(&mut self, uri: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(list) = self.diagnostics.get(uri)
                && done(list)
            {
                return list.clone();
            }
            let message = self.next_message(deadline);
            self.take(message);
        }
    }

    /// Waits for a `publishDiagnostics` of `uri` (URIs compared decoded) whose version, if any,
    /// is at least `min_version`; returns it.
    pub fn wait_publish(&mut self, uri: &str, min_version: i64) -> Value {
        let wanted = decode(uri);
        let deadline = Instant::now() + DEADLINE;
        loop {
            let message = self.next_message(deadline);
            let hit = message["method"] == "textDocument/publishDiagnostics"
                && decode(message["params"]["uri"].as_str().unwrap_or_default()) == wanted
                && message["params"]["version"]
                    .as_i64()
                    .is_none_or(|v| v >= min_version);
            let kept = message.clone();
            self.take(message);
            if hit {
                return kept;
            }
        }
    }

    /// Waits for a request or notification from the server that satisfies `wanted`; returns it.
    /// Earlier messages are handled as usual (and kept in `messages`).
    pub fn wait_message(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let message = self.next_message(deadline);
            let hit = message.get("method").is_some() && wanted(&message);
            let kept = message.clone();
            self.take(message);
            if hit {
                return kept;
            }
        }
    }

    /// Peak resident memory of the server process, in MiB (Linux).
    pub fn peak_rss_mib(&self) -> f64 {
        self.status_mib("VmHWM:")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Current resident memory of the server process, in MiB (Linux, `VmRSS`).
    pub fn rss_mib(&self) -> f64 {
        self.status_mib("VmRSS:")
    }

    /// A `kB` field of `/proc/<pid>/status`, in MiB (0 when unreadable).
    fn status_mib(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    }

    /// Like `wait_all_diagnostics`, but gives up after `within`; whether `done` held.
    pub fn try_wait_all_diagnostics(
        &mut self,
        within: Duration,
        done: impl Fn(&HashMap<String, Vec<Value>>) -> bool,
    ) -> bool {
        let deadline = Instant::now() + within;
        while !done(&self.diagnostics) {
            match self.try_next_message(deadline) {
                Ok(message) => {
                    self.take(message);
                }
                Err(_) => return false,
            }
        }
        true
    }

    /// Processes incoming messages until `done` holds for the latest diagnostics of all files.
    pub fn wait_all_diagnostics(&mut self, done: impl Fn(&HashMap<String, Vec<Value>>) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !done(&self.diagnostics) {
            let message = self.next_message(deadline);
            self.take(message);
        }
    }

    pub fn initialize(
        &mut self,
        root: &Path,
        capabilities: Value,
        options: Option<Value>,
    ) -> Value {
        let mut params = json!({
            "processId": null,
            "rootUri": file_uri(root),
            "workspaceFolders": [{ "uri": file_uri(root), "name": "root" }],
            "capabilities": capabilities,
        });
        if let Some(options) = options {
            params["initializationOptions"] = options;
        }
        let response = self.request("initialize", params);
        self.notify("initialized", json!({}));
        response
    }

    pub fn open(&mut self, path: &Path, text: &str) {
        let language = if path.extension().is_some_and(|e| e == "ts") {
            "typescript"
        } else {
            "javascript"
        };
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": file_uri(path), "languageId": language, "version": 1, "text": text } }),
        );
    }

    pub fn change(&mut self, path: &Path, version: i32, changes: Value) {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": file_uri(path), "version": version }, "contentChanges": changes }),
        );
    }

    pub fn shutdown(mut self) {
        let response = self.request("shutdown", Value::Null);
        assert!(
            response.get("error").is_none(),
            "shutdown failed: {response}"
        );
        self.notify("exit", Value::Null);
        self.wait_output_closed("the server did not exit after `exit`");
        let status = self.child.wait().expect("wait for the server");
        assert!(status.success(), "the server exited with {status}");
    }
}

impl LspClient {
    /// The editor goes away without `shutdown`: its end of stdin closes. Returns the server's
    /// exit status once its output has closed.
    pub fn vanish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        self.wait_output_closed("the server did not exit when stdin closed");
        self.child.wait().expect("wait for the server")
    }

    /// Reads (and drops) messages until the server's output closes, which it does when it
    /// exits; panics with `failure` after the deadline.
    fn wait_output_closed(&mut self, failure: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self
                .incoming
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(_) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => panic!("{failure}"),
            }
        }
    }
}

impl Drop for LspClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Codes of a diagnostics list, sorted.
pub fn codes(list: &[Value]) -> Vec<String> {
    let mut codes: Vec<String> = list
        .iter()
        .filter_map(|d| d["code"].as_str().map(str::to_string))
        .collect();
    codes.sort();
    codes
}

/// Copies a folder (fixture) into a new temporary folder.
pub fn copy_project(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(from, dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read fixture").flatten() {
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Diagnostics of one file as sorted lines (code, severity, range, message), to compare two
/// servers' answers.
pub fn normalise(list: &[Value]) -> Vec<String> {
    let mut items: Vec<String> = list
        .iter()
        .map(|d| {
            format!(
                "{} {} {} {}",
                d["code"], d["severity"], d["range"], d["message"]
            )
        })
        .collect();
    items.sort();
    items
}
