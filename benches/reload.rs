//! Benchmark of reloading on save (run by hand; not a test):
//!
//!     cargo build --release
//!     cargo bench --bench reload -- [--sizes 100,1000,5000] [--formats esm,cjs] [--edits 20]
//!         [--tools modgraph,node-watch,nodemon,hot-hook,dynohot] [--reloads 1000]
//!         [--heap-modules 1000] [--node PATH] [--poll-us 250] [--keep DIR] [--verbose]
//!         [--breakdown] [--binary PATH]
//!     cargo bench --bench reload -- --soak 1000 [--sizes 1000] [--formats esm,cjs] [--seed 1]
//!
//! Generates apps of N modules (ES modules or CommonJS: a layered DAG with fan-in, every module
//! doing some top-level work, an entry that imports the top-level modules and answers an HTTP
//! probe on 127.0.0.1 with the version string of one leaf module), then measures, in the same
//! run, the time from writing that leaf on disk until the probe answers with the new version:
//! under `modgraph run` (the release binary; with an `accept` boundary in the entry, and without
//! one, where the entry runs again), `node --watch` and nodemon (restarts), and hot-hook and
//! dynohot (in-process reloaders, ES modules only). The npm tools are installed once, pinned,
//! into `${MODGRAPH_TOOLS:-~/.cache/modgraph-tools}/bench-node-modules`.
//! Then the heap growth over `--reloads` leaf edits under `modgraph run`.
//! With `--soak N`, only the soak instead: see `reload/soak.rs`.
//!
//! The edit is a plain write (open with truncate, write, close: how editors without "atomic
//! save" write). The probe is polled over a fresh TCP connection every 0.25 ms (`--poll-us`).
//!
//! `--breakdown` runs `modgraph run` with its debug timings on and adds, per `modgraph run` row,
//! the medians of where an edit's time went: write → watcher event, the run loop's steps (wait,
//! hash, graph update, plan), the agent's reload, the request around it (socket and JSON), and
//! the rest until the probe saw the new version. `--binary` runs another build of modgraph
//! (default: this checkout's `target/release/modgraph`), to compare two builds in turns.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "shared/rng.rs"]
mod rng;
#[path = "reload/soak.rs"]
mod soak;

const NODEMON: &str = "nodemon@3.1.14";
const HOT_HOOK: &str = "hot-hook@1.0.0";
const DYNOHOT: &str = "dynohot@1.2.1";

/// Top-level modules the entry imports ("routes").
const TOP: usize = 10;
/// Children per module (plus one shared import for fan-in).
const BRANCH: usize = 4;
/// Pause between two probes, in microseconds (`--poll-us`).
static POLL_GAP_US: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(250);
const START_PATIENCE: Duration = Duration::from_secs(180);
const EDIT_PATIENCE: Duration = Duration::from_secs(60);

fn die(message: impl std::fmt::Display) -> ! {
    eprintln!("reload bench: {message}");
    std::process::exit(2);
}

// ---------------------------------------------------------------------------------------------
// The generated app

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    Esm,
    Cjs,
}

impl Format {
    fn ext(self) -> &'static str {
        match self {
            Format::Esm => "mjs",
            Format::Cjs => "cjs",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Format::Esm => "ESM",
            Format::Cjs => "CJS",
        }
    }
}

/// Which entry a tool runs. All of them live in the same app folder.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Entry {
    /// The entry accepts updates of the top-level modules and swaps them in its route table.
    Boundary,
    /// Nothing accepts: the entry runs again and takes the server over from its old instance.
    Rerun,
    /// The entry accepts itself (dynohot's way of re-running the entry).
    SelfAccept,
    /// hot-hook: the top-level modules are boundaries imported with `import()`.
    HotHook,
}

impl Entry {
    fn file(self, format: Format) -> String {
        let name = match self {
            Entry::Boundary => "main-boundary",
            Entry::Rerun => "main-rerun",
            Entry::SelfAccept => "main-self",
            Entry::HotHook => "main-hothook",
        };
        format!("{name}.{}", format.ext())
    }
}

struct App {
    dir: PathBuf,
    format: Format,
    modules: usize,
    leaf: PathBuf,
    leaf_index: usize,
    leaf_imports: String,
}

/// The module's path under `src/`.
fn module_rel(layer: usize, index: usize, format: Format) -> String {
    format!("d{layer}/g{}/m{index}.{}", index / 50, format.ext())
}

fn module_path(layer: usize, index: usize, format: Format) -> String {
    format!("src/{}", module_rel(layer, index, format))
}

/// A small deterministic generator for the shared (fan-in) imports.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound.max(1)
    }
}

fn layer_sizes(n: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut left = n;
    let mut size = TOP;
    while left > 0 {
        let take = size.min(left);
        sizes.push(take);
        left -= take;
        size *= BRANCH;
    }
    sizes
}

fn import_line(format: Format, names: &str, spec: &str) -> String {
    match format {
        Format::Esm => format!("import {{ {names} }} from '{spec}';\n"),
        Format::Cjs => format!(
            "const {{ {} }} = require('{spec}');\n",
            names.replace(" as ", ": ")
        ),
    }
}

fn export_fn(format: Format, name: &str, params: &str, body: &str) -> String {
    match format {
        Format::Esm => format!("export function {name}({params}) {{\n{body}\n}}\n"),
        Format::Cjs => {
            format!("function {name}({params}) {{\n{body}\n}}\nexports.{name} = {name};\n")
        }
    }
}

fn export_const(format: Format, name: &str, value: &str) -> String {
    match format {
        Format::Esm => format!("export const {name} = {value};\n"),
        Format::Cjs => format!("exports.{name} = {value};\n"),
    }
}

/// The body every module shares: top-level work and a few functions (about 1.3 KB).
fn module_body(format: Format, layer: usize, index: usize, children: &[String]) -> String {
    let mut text = String::new();
    text.push_str(&format!(
        "// layer {layer}, module {index}: generated by benches/reload.rs\n\
         const SEED = {};\n\
         const TABLE = Array.from({{ length: 64 }}, (_, i) => (i * 31 + SEED) % 257);\n\
         class Counter {{\n  constructor() {{ this.hits = 0; this.total = 0; }}\n  \
         add(n) {{ this.hits += 1; this.total += n; return this; }}\n  \
         get mean() {{ return this.hits ? this.total / this.hits : 0; }}\n}}\n\
         const counter = new Counter();\n",
        index * 7 + layer
    ));
    text.push_str(&export_fn(
        format,
        "work",
        "x",
        "  let s = x;\n  for (const v of TABLE) s = (s * 33 + v) % 1000003;\n  counter.add(s);\n  return s;",
    ));
    text.push_str(&export_fn(
        format,
        "describe",
        "",
        &format!(
            "  return {{ layer: {layer}, index: {index}, hits: counter.hits, mean: counter.mean }};"
        ),
    ));
    // Top-level work: call each import once.
    let calls: Vec<String> = children.iter().map(|c| format!("{c}(SEED)")).collect();
    let checksum = if calls.is_empty() {
        "work(SEED)".to_owned()
    } else {
        calls.join(" + ")
    };
    text.push_str(&export_const(format, "checksum", &checksum));
    text
}

fn leaf_text(app: &App, version: &str) -> String {
    let mut text = app.leaf_imports.clone();
    text.push_str(&module_body(
        app.format,
        layer_sizes(app.modules).len() - 1,
        app.leaf_index,
        &[],
    ));
    text.push_str(&export_const(
        app.format,
        "version",
        &format!("'{version}'"),
    ));
    text.push_str(&export_fn(app.format, "probe", "", "  return version;"));
    if app.format == Format::Cjs {
        text = text.replace("return version;", "return exports.version;");
    }
    text
}

fn generate(root: &Path, n: usize, format: Format) -> App {
    let dir = root.join(format!("app-{n}-{}", format.ext()));
    let _ = std::fs::remove_dir_all(&dir);
    let sizes = layer_sizes(n);
    let last = sizes.len() - 1;
    let mut rng = Lcg(n as u64 * 2 + format as u64);
    let mut leaf = None;
    for (layer, &size) in sizes.iter().enumerate() {
        let next = sizes.get(layer + 1).copied().unwrap_or(0);
        for index in 0..size {
            let mut imports = String::new();
            let mut calls = Vec::new();
            let mut child_probe = None;
            let mut kids: Vec<usize> = (0..BRANCH)
                .map(|k| index * BRANCH + k)
                .filter(|&c| c < next)
                .collect();
            if next > 0 {
                let shared = rng.next(next);
                if !kids.contains(&shared) {
                    kids.push(shared);
                }
            }
            for (k, child) in kids.iter().enumerate() {
                let spec = format!("../../{}", module_rel(layer + 1, *child, format));
                let names = if k == 0 {
                    child_probe = Some(format!("p{k}"));
                    format!("work as w{k}, probe as p{k}")
                } else {
                    format!("work as w{k}")
                };
                imports.push_str(&import_line(format, &names, &spec));
                calls.push(format!("w{k}"));
            }
            let path = dir.join(module_path(layer, index, format));
            let is_leaf = layer == last && index == 0;
            let text = if is_leaf {
                leaf = Some((path.clone(), index, imports.clone()));
                String::new()
            } else {
                let mut text = imports;
                text.push_str(&module_body(format, layer, index, &calls));
                let probe_body = match &child_probe {
                    Some(p) => format!("  return {p}();"),
                    None => format!("  return 'leaf {index}';"),
                };
                text.push_str(&export_fn(format, "probe", "", &probe_body));
                text
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .unwrap_or_else(|e| die(format!("cannot create {}: {e}", parent.display())));
            }
            std::fs::write(&path, text)
                .unwrap_or_else(|e| die(format!("cannot write {}: {e}", path.display())));
        }
    }
    let (leaf, leaf_index, leaf_imports) = leaf.unwrap_or_else(|| die("no leaf generated"));
    let app = App {
        dir: dir.clone(),
        format,
        modules: n,
        leaf,
        leaf_index,
        leaf_imports,
    };
    write_leaf(&app, "v0");
    for entry in [
        Entry::Boundary,
        Entry::Rerun,
        Entry::SelfAccept,
        Entry::HotHook,
    ] {
        if format == Format::Cjs && matches!(entry, Entry::SelfAccept | Entry::HotHook) {
            continue;
        }
        let path = dir.join(entry.file(format));
        std::fs::write(&path, entry_text(format, entry, sizes[0]))
            .unwrap_or_else(|e| die(format!("cannot write {}: {e}", path.display())));
    }
    // hot-hook reads its configuration from the nearest package.json.
    let manifest = dir.join("package.json");
    std::fs::write(
        &manifest,
        "{ \"name\": \"reload-bench-app\", \"private\": true }\n",
    )
    .unwrap_or_else(|e| die(format!("cannot write {}: {e}", manifest.display())));
    app
}

fn write_leaf(app: &App, version: &str) {
    std::fs::write(&app.leaf, leaf_text(app, version))
        .unwrap_or_else(|e| die(format!("cannot write {}: {e}", app.leaf.display())));
}

/// The entry: an HTTP server on `BENCH_PORT` answering `/` with route 0's probe (the leaf's
/// version) and `/heap` with the heap after a full GC and the retained ES module instances.
fn entry_text(format: Format, entry: Entry, tops: usize) -> String {
    let specs: Vec<String> = (0..tops)
        .map(|i| format!("./{}", module_path(0, i, format)))
        .collect();
    let hot = match format {
        Format::Esm => "import.meta.hot",
        Format::Cjs => "module.hot",
    };
    let mut text = String::new();
    match format {
        Format::Esm => {
            text.push_str("import http from 'node:http';\n");
            if entry != Entry::HotHook {
                for (i, spec) in specs.iter().enumerate() {
                    text.push_str(&format!("import * as t{i} from '{spec}';\n"));
                }
            }
        }
        Format::Cjs => {
            text.push_str("const http = require('node:http');\n");
            for (i, spec) in specs.iter().enumerate() {
                text.push_str(&format!("const t{i} = require('{spec}');\n"));
            }
        }
    }
    if entry == Entry::HotHook {
        let list: Vec<String> = specs
            .iter()
            .map(|s| format!("  import('{s}', import.meta.hot?.boundary),\n"))
            .collect();
        text.push_str(&format!(
            "const routes = await Promise.all([\n{}]);\n",
            list.concat()
        ));
    } else {
        let list: Vec<String> = (0..tops).map(|i| format!("t{i}")).collect();
        text.push_str(&format!("const routes = [{}];\n", list.join(", ")));
    }
    let probe = if entry == Entry::HotHook {
        // A boundary is imported again on every use: hot-hook hands out the new version then.
        format!(
            "(await import('{}', import.meta.hot?.boundary)).probe()",
            specs[0]
        )
    } else {
        "routes[0].probe()".to_owned()
    };
    text.push_str(&format!(
        "const hot = {hot};\n\
         const server = hot?.data?.server ?? http.createServer();\n\
         server.removeAllListeners('request');\n\
         server.on('request', async (req, res) => {{\n  \
           try {{\n    \
             if (req.url === '/heap') {{\n      \
               globalThis.gc?.();\n      \
               const agent = globalThis[Symbol.for('modgraph.agent')];\n      \
               res.end(`${{process.memoryUsage().heapUsed}} ${{agent ? agent.state.esmRetained : -1}}`);\n      \
               return;\n    \
             }}\n    \
             res.end(`${{{probe}}} pid=${{process.pid}}`);\n  \
           }} catch (error) {{\n    \
             res.statusCode = 500;\n    \
             res.end(String(error && error.stack));\n  \
           }}\n\
         }});\n\
         if (!server.listening) server.listen(Number(process.env.BENCH_PORT), '127.0.0.1', () => console.log('ready'));\n"
    ));
    match entry {
        Entry::Boundary => {
            text.push_str("hot?.dispose((data) => { data.server = server; });\n");
            for (i, spec) in specs.iter().enumerate() {
                text.push_str(&format!(
                    "hot?.accept('{spec}', (next) => {{ routes[{i}] = next; }});\n"
                ));
            }
        }
        Entry::Rerun => {
            text.push_str("hot?.dispose((data) => { data.server = server; });\n");
        }
        Entry::SelfAccept => {
            text.push_str("hot?.dispose((data) => { data.server = server; });\nhot?.accept();\n");
        }
        Entry::HotHook => {}
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Processes and the probe

struct Running {
    child: Child,
    err: Arc<Mutex<Vec<String>>>,
    out: Arc<Mutex<Vec<String>>>,
}

fn collect(stream: impl Read + Send + 'static, verbose: bool) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if verbose {
                eprintln!("    | {line}");
            }
            if let Ok(mut all) = sink.lock() {
                all.push(line);
            }
        }
    });
    lines
}

impl Running {
    fn start(mut command: Command, verbose: bool) -> std::io::Result<Self> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command.spawn()?;
        let out = collect(child.stdout.take().expect("piped stdout"), verbose);
        let err = collect(child.stderr.take().expect("piped stderr"), verbose);
        Ok(Self { child, err, out })
    }

    fn err_lines(&self) -> Vec<String> {
        self.err.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn tail(&self) -> String {
        let mut lines = self.out.lock().map(|l| l.clone()).unwrap_or_default();
        lines.extend(self.err_lines());
        let start = lines.len().saturating_sub(8);
        lines[start..].join("\n      ")
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // The whole group: nodemon and node --watch run the app in a child of their own.
        let Ok(pid) = i32::try_from(self.child.id()) else {
            return;
        };
        // SAFETY: signalling the process group this program created.
        unsafe { libc::kill(-pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: as above; whatever is left of the group.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| die(format!("cannot find a free port: {e}")))
}

/// One request; `None` while nothing listens or the answer is not a 200.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_nodelay(true).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    if !response.starts_with("HTTP/1.1 200") {
        return None;
    }
    response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

/// Polls until the probe answers with `version`; the time it took, or `None` after `patience`.
fn wait_for_version(
    port: u16,
    version: &str,
    since: Instant,
    patience: Duration,
) -> Option<Duration> {
    let prefix = format!("{version} pid=");
    loop {
        if let Some(body) = get(port, "/")
            && body.starts_with(&prefix)
        {
            return Some(since.elapsed());
        }
        if since.elapsed() > patience {
            return None;
        }
        std::thread::sleep(Duration::from_micros(
            POLL_GAP_US.load(std::sync::atomic::Ordering::Relaxed),
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Tools

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Modgraph,
    NodeWatch,
    Nodemon,
    HotHook,
    Dynohot,
}

impl Tool {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "modgraph" => Tool::Modgraph,
            "node-watch" => Tool::NodeWatch,
            "nodemon" => Tool::Nodemon,
            "hot-hook" => Tool::HotHook,
            "dynohot" => Tool::Dynohot,
            _ => return None,
        })
    }
}

struct Env {
    binary: PathBuf,
    node: String,
    node_version: String,
    tools: Option<PathBuf>,
    verbose: bool,
    breakdown: bool,
}

/// The system's monotonic clock in microseconds: the one `modgraph run` logs its watcher's
/// event time on.
fn monotonic_us() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1000
}

/// One `reload timings` line of `modgraph run`.
struct Timings {
    /// The run loop's steps in order, in milliseconds.
    laps: Vec<(String, f64)>,
    /// The agent's own time, in milliseconds.
    agent: f64,
    /// When the watcher saw the save (monotonic clock, microseconds).
    seen: u64,
}

/// `… reload timings (ms): wait 0.010, hash 0.031, …; agent 12.5; seen at 123 us`.
fn parse_timings(line: &str) -> Option<Timings> {
    let (_, rest) = line.split_once("reload timings (ms): ")?;
    let (laps, rest) = rest.split_once("; agent ")?;
    let (agent, rest) = rest.split_once("; seen at ")?;
    let seen = rest.trim().strip_suffix(" us")?.parse().ok()?;
    let laps = laps
        .split(", ")
        .map(|lap| {
            let (name, ms) = lap.rsplit_once(' ')?;
            Some((name.to_owned(), ms.parse().ok()?))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Timings {
        laps,
        agent: agent.trim().parse().ok()?,
        seen,
    })
}

/// Medians of where the edits' time went (see `--breakdown`), from the debug lines of `modgraph
/// run` and the write time and total of each edit.
fn breakdown(lines: &[String], edits: &[(u64, Duration)]) -> String {
    let parsed: Vec<_> = lines.iter().filter_map(|l| parse_timings(l)).collect();
    let mut columns: Vec<(String, Vec<f64>)> = Vec::new();
    let mut push = |name: &str, value: f64| match columns.iter_mut().find(|(n, _)| n == name) {
        Some((_, values)) => values.push(value),
        None => columns.push((name.to_owned(), vec![value])),
    };
    for &(written_us, total) in edits {
        // The reload whose event came first after this write.
        let Some(Timings { laps, agent, seen }) = parsed
            .iter()
            .filter(|t| t.seen >= written_us)
            .min_by_key(|t| t.seen)
        else {
            continue;
        };
        let total = total.as_secs_f64() * 1000.0;
        let to_event = (*seen - written_us) as f64 / 1000.0;
        push("write→event", to_event);
        let mut used = to_event;
        for (name, ms) in laps {
            if name == "request" {
                push("agent", *agent);
                push("request−agent", ms - agent);
            } else {
                push(name, *ms);
            }
            used += ms;
        }
        push("rest (probe)", total - used);
    }
    columns
        .into_iter()
        .map(|(name, values)| format!("{name} {:.2}", median_f64(values).unwrap_or(f64::NAN)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn tools_dir() -> PathBuf {
    match std::env::var_os("MODGRAPH_TOOLS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| die("HOME is not set"));
            PathBuf::from(home).join(".cache/modgraph-tools")
        }
    }
    .join("bench-node-modules")
}

fn installed_version(dir: &Path, package: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("node_modules").join(package).join("package.json"))
        .ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get("version")?.as_str().map(str::to_owned)
}

/// Installs the pinned npm tools once; `Err` says why they cannot be used.
fn install_tools(npm: &str) -> Result<PathBuf, String> {
    let dir = tools_dir();
    let wanted = [NODEMON, HOT_HOOK, DYNOHOT];
    let all_there = wanted.iter().all(|spec| {
        let (name, version) = spec.rsplit_once('@').unwrap_or((spec, ""));
        installed_version(&dir, name).as_deref() == Some(version)
    });
    if all_there {
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let manifest = dir.join("package.json");
    if !manifest.exists() {
        std::fs::write(&manifest, "{ \"private\": true }\n")
            .map_err(|e| format!("cannot write {}: {e}", manifest.display()))?;
    }
    eprintln!("installing {} into {}", wanted.join(" "), dir.display());
    let output = Command::new(npm)
        .args(["install", "--no-audit", "--no-fund", "--save-exact"])
        .args(wanted)
        .current_dir(&dir)
        .output()
        .map_err(|e| format!("cannot run {npm}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "npm install failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(dir)
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The command of one tool on one app, or why it cannot run it.
fn command(env: &Env, tool: Tool, app: &App, entry: Entry) -> Result<Command, String> {
    let entry_file = entry.file(app.format);
    let mut command;
    match tool {
        Tool::Modgraph => {
            command = Command::new(&env.binary);
            command.args(["run", "--", &env.node, "--expose-gc", &entry_file]);
        }
        Tool::NodeWatch => {
            command = Command::new(&env.node);
            command.args(["--watch", &entry_file]);
        }
        Tool::Nodemon | Tool::HotHook | Tool::Dynohot => {
            let tools = env
                .tools
                .as_ref()
                .ok_or("the npm tools are not installed")?;
            command = Command::new(&env.node);
            match tool {
                Tool::Nodemon => {
                    let bin = tools.join("node_modules/nodemon/bin/nodemon.js");
                    command.arg(bin).args(["--ext", "mjs,cjs,js", "--exec"]);
                    command.arg(format!("{} {entry_file}", env.node));
                }
                Tool::HotHook => {
                    let register = tools.join("node_modules/hot-hook/build/src/register.js");
                    command
                        .arg("--import")
                        .arg(file_url(&register))
                        .arg(&entry_file);
                }
                _ => {
                    let register = tools.join("node_modules/dynohot/dist/loader/register.js");
                    command
                        .arg("--import")
                        .arg(file_url(&register))
                        .arg(&entry_file);
                }
            }
        }
    }
    command.current_dir(&app.dir);
    Ok(command)
}

// ---------------------------------------------------------------------------------------------
// Measurements

struct Measured {
    start: Duration,
    times: Vec<Duration>,
    note: String,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn fmt_ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn median_f64(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    Some(xs[xs.len() / 2])
}

/// `modgraph: reloaded 3 modules in 4.1 ms: …` → (3, 4.1).
fn parse_modgraph_line(line: &str) -> Option<(usize, f64)> {
    let rest = line.strip_prefix("modgraph: reloaded ")?;
    let (count, rest) = rest.split_once(' ')?;
    let (_, rest) = rest.split_once(" in ")?;
    let (ms, _) = rest.split_once(" ms")?;
    Some((count.parse().ok()?, ms.parse().ok()?))
}

fn settle_time(tool: Tool) -> Duration {
    match tool {
        Tool::Modgraph => Duration::from_millis(30),
        Tool::HotHook | Tool::Dynohot => Duration::from_millis(100),
        Tool::NodeWatch | Tool::Nodemon => Duration::from_millis(400),
    }
}

fn measure(
    env: &Env,
    tool: Tool,
    app: &App,
    entry: Entry,
    edits: usize,
) -> Result<Measured, String> {
    write_leaf(app, "v0");
    let port = free_port();
    let mut command = command(env, tool, app, entry)?;
    command.env("BENCH_PORT", port.to_string());
    if env.breakdown && tool == Tool::Modgraph {
        command.env("MODGRAPH_LOG", "modgraph::cli::run=debug");
    }
    let started = Instant::now();
    let mut running =
        Running::start(command, env.verbose).map_err(|e| format!("cannot start: {e}"))?;
    let start = loop {
        if get(port, "/").is_some_and(|b| b.starts_with("v0 pid=")) {
            break started.elapsed();
        }
        if running.exited() || started.elapsed() > START_PATIENCE {
            return Err(format!(
                "the app never answered; last output:\n      {}",
                running.tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    // Watchers may still be setting up (chokidar's initial scan): give them a moment.
    std::thread::sleep(Duration::from_millis(if tool == Tool::Modgraph {
        200
    } else {
        1000
    }));
    let first_err_line = running.err_lines().len();
    let mut times = Vec::new();
    let mut written = Vec::new();
    // One warm-up edit, then the measured ones.
    for k in 0..=edits {
        let version = format!("v{}", k + 1);
        std::thread::sleep(settle_time(tool));
        let since = Instant::now();
        let written_us = monotonic_us();
        write_leaf(app, &version);
        match wait_for_version(port, &version, since, EDIT_PATIENCE) {
            Some(took) => {
                if k > 0 {
                    times.push(took);
                    written.push((written_us, took));
                }
            }
            None => {
                return Err(format!(
                    "edit {k}: the new version never answered within {EDIT_PATIENCE:?}; last output:\n      {}",
                    running.tail()
                ));
            }
        }
    }
    std::thread::sleep(settle_time(tool));
    let lines = running.err_lines();
    let new_lines = &lines[first_err_line.min(lines.len())..];
    let note = match tool {
        Tool::Modgraph => {
            let parsed: Vec<(usize, f64)> = new_lines
                .iter()
                .filter_map(|l| parse_modgraph_line(l))
                .collect();
            let failed = new_lines
                .iter()
                .filter(|l| l.starts_with("modgraph: reload failed"))
                .count();
            let counts: BTreeMap<usize, usize> =
                parsed.iter().fold(BTreeMap::new(), |mut m, (c, _)| {
                    *m.entry(*c).or_default() += 1;
                    m
                });
            let count = counts
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(c, _)| *c)
                .unwrap_or(0);
            let agent = median_f64(parsed.iter().map(|(_, ms)| *ms).collect()).unwrap_or(f64::NAN);
            let mut note = format!("{count} modules re-run; agent {agent:.1} ms");
            if failed > 0 {
                note.push_str(&format!("; {failed} failed reloads"));
            }
            if env.breakdown {
                note.push_str(&format!("; median ms: {}", breakdown(new_lines, &written)));
            }
            note
        }
        Tool::Dynohot => new_lines
            .iter()
            .rev()
            .find(|l| l.starts_with("[hot] Loaded"))
            .map(|l| l.trim_start_matches("[hot] ").to_owned())
            .unwrap_or_default(),
        _ => String::new(),
    };
    drop(running);
    write_leaf(app, "v0");
    times.sort();
    Ok(Measured { start, times, note })
}

/// Starts the app (boundary entry) under `modgraph run` with its leaf at `v0` and waits until
/// it answers, then lets it settle; returns it and its port.
fn start_boundary_app(env: &Env, app: &App) -> Result<(Running, u16), String> {
    write_leaf(app, "v0");
    let port = free_port();
    let mut command = command(env, Tool::Modgraph, app, Entry::Boundary)?;
    command.env("BENCH_PORT", port.to_string());
    let started = Instant::now();
    let mut running =
        Running::start(command, env.verbose).map_err(|e| format!("cannot start: {e}"))?;
    while !get(port, "/").is_some_and(|b| b.starts_with("v0 pid=")) {
        if running.exited() || started.elapsed() > START_PATIENCE {
            return Err(format!(
                "the app never answered; last output:\n      {}",
                running.tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(200));
    Ok((running, port))
}

/// `heapUsed` after `gc()` and the ES module instances the agent counts, from `/heap`.
fn read_heap(port: u16, running: &Running) -> Result<(i64, i64), String> {
    let body = get(port, "/heap")
        .ok_or_else(|| format!("no answer from /heap:\n      {}", running.tail()))?;
    let mut parts = body
        .split_whitespace()
        .map(|v| v.parse::<i64>().unwrap_or(-1));
    Ok((parts.next().unwrap_or(-1), parts.next().unwrap_or(-1)))
}

/// Heap before and after `reloads` leaf edits under `modgraph run` (boundary entry).
fn heap_growth(env: &Env, app: &App, reloads: usize) -> Result<(f64, i64, i64, i64), String> {
    let (running, port) = start_boundary_app(env, app)?;
    let heap = |running: &Running| read_heap(port, running);
    let edit = |version: &str, running: &Running| -> Result<(), String> {
        std::thread::sleep(Duration::from_millis(2));
        let since = Instant::now();
        write_leaf(app, version);
        wait_for_version(port, version, since, EDIT_PATIENCE)
            .map(|_| ())
            .ok_or_else(|| format!("the new version never answered:\n      {}", running.tail()))
    };
    // Warm up: the first reloads compile the agent's reload path.
    for k in 1..=10 {
        edit(&format!("w{k}"), &running)?;
    }
    let (before, retained_before) = heap(&running)?;
    for k in 1..=reloads {
        edit(&format!("v{k}"), &running)?;
    }
    std::thread::sleep(Duration::from_millis(50));
    let (after, retained_after) = heap(&running)?;
    drop(running);
    write_leaf(app, "v0");
    Ok((
        (after - before) as f64 / reloads as f64,
        before,
        after,
        retained_after - retained_before,
    ))
}

fn mode_label(tool: Tool, entry: Entry) -> (&'static str, &'static str) {
    match (tool, entry) {
        (Tool::Modgraph, Entry::Boundary) => {
            ("`modgraph run`", "reload up to the entry's `hot.accept`")
        }
        (Tool::Modgraph, _) => (
            "`modgraph run`",
            "reload, no boundary: the entry runs again",
        ),
        (Tool::NodeWatch, _) => ("`node --watch`", "restart"),
        (Tool::Nodemon, _) => ("nodemon 3.1.14", "restart"),
        (Tool::HotHook, _) => ("hot-hook 1.0.0", "boundary `import()` per request"),
        (Tool::Dynohot, Entry::Boundary) => {
            ("dynohot 1.2.1", "reload up to the entry's `hot.accept`")
        }
        (Tool::Dynohot, _) => ("dynohot 1.2.1", "no boundary: the entry accepts itself"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "usage: cargo bench --bench reload -- [--sizes 100,1000,5000] [--formats esm,cjs] \
             [--tools modgraph,node-watch,nodemon,hot-hook,dynohot] [--edits N] [--reloads N] \
             [--heap-modules N] [--soak N] [--node PATH] [--poll-us N] [--verbose] [--breakdown] \
             [--binary PATH]"
        );
        return;
    }
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let list = |name: &str, default: &str| -> Vec<String> {
        flag(name)
            .unwrap_or_else(|| default.to_owned())
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let number = |name: &str, default: usize| -> usize {
        match flag(name) {
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| die(format!("{name} wants a number, got `{v}`"))),
            None => default,
        }
    };
    let sizes: Vec<usize> = list("--sizes", "100,1000,5000")
        .iter()
        .map(|s| {
            s.parse()
                .unwrap_or_else(|_| die(format!("--sizes wants numbers, got `{s}`")))
        })
        .collect();
    let formats: Vec<Format> = list("--formats", "esm,cjs")
        .iter()
        .map(|f| match f.as_str() {
            "esm" => Format::Esm,
            "cjs" => Format::Cjs,
            other => die(format!("unknown format `{other}` (esm, cjs)")),
        })
        .collect();
    let tools: Vec<Tool> = list("--tools", "modgraph,node-watch,nodemon,hot-hook,dynohot")
        .iter()
        .map(|t| Tool::parse(t).unwrap_or_else(|| die(format!("unknown tool `{t}`"))))
        .collect();
    let edits = number("--edits", 20).max(1);
    let reloads = number("--reloads", 1000);
    let heap_modules = number("--heap-modules", 1000);
    let verbose = args.iter().any(|a| a == "--verbose");
    let breakdown = args.iter().any(|a| a == "--breakdown");
    let node = flag("--node").unwrap_or_else(|| "node".to_owned());
    POLL_GAP_US.store(
        number("--poll-us", 250) as u64,
        std::sync::atomic::Ordering::Relaxed,
    );

    let binary = flag("--binary")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/modgraph"));
    if !binary.exists() {
        die("build the release binary first: cargo build --release");
    }
    let node_version = Command::new(&node)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|e| die(format!("cannot run `{node} --version`: {e}")));
    let needs_npm = tools
        .iter()
        .any(|t| matches!(t, Tool::Nodemon | Tool::HotHook | Tool::Dynohot));
    let npm = Path::new(&node)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.join("npm"))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "npm".to_owned());
    let (tools_path, tools_problem) = if needs_npm {
        match install_tools(&npm) {
            Ok(dir) => (Some(dir), None),
            Err(why) => (None, Some(why)),
        }
    } else {
        (None, None)
    };
    let env = Env {
        binary,
        node,
        node_version,
        tools: tools_path,
        verbose,
        breakdown,
    };
    let keep = flag("--keep").map(PathBuf::from);
    let temp =
        tempfile::tempdir().unwrap_or_else(|e| die(format!("cannot create a temp dir: {e}")));
    let root = keep.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "node {}, {cores} cores; {edits} leaf edits per row after one warm-up edit (plain write); probe polled every {} µs",
        env.node_version,
        POLL_GAP_US.load(std::sync::atomic::Ordering::Relaxed)
    );
    if let Some(why) = &tools_problem {
        println!("npm tools unavailable: {why}");
    }
    if let Some(cycles) = flag("--soak") {
        let cycles: usize = cycles
            .parse()
            .unwrap_or_else(|_| die(format!("--soak wants a number, got `{cycles}`")));
        let seed = number("--seed", 1) as u64;
        let mut lines = Vec::new();
        for &n in &sizes {
            for &format in &formats {
                let app = generate(&root, n, format);
                println!(
                    "soak: {} modules, {}: {cycles} cycles, load average {}",
                    fmt_count(n),
                    format.label(),
                    load_average()
                );
                match soak::soak(&env, &app, cycles, seed) {
                    Ok(report) => {
                        println!("  {}", report.line);
                        lines.push(report.line);
                    }
                    Err(why) => {
                        println!("  failed: {why}");
                        lines.push(format!(
                            "{} modules, {}: failed: {why}",
                            fmt_count(n),
                            format.label()
                        ));
                    }
                }
            }
        }
        println!("soak summary (load average {}):", load_average());
        for line in lines {
            println!("  {line}");
        }
        return;
    }

    let load_at_start = load_average();
    let mut rows: Vec<String> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut heap_rows: Vec<String> = Vec::new();
    for &n in &sizes {
        for &format in &formats {
            let app = generate(&root, n, format);
            eprintln!(
                "app: {n} modules, {} ({} layers), leaf {}",
                format.label(),
                layer_sizes(n).len(),
                app.leaf
                    .strip_prefix(&app.dir)
                    .unwrap_or(&app.leaf)
                    .display()
            );
            for &tool in &tools {
                let entries: &[Entry] = match (tool, format) {
                    (Tool::Modgraph, _) => &[Entry::Boundary, Entry::Rerun],
                    (Tool::NodeWatch | Tool::Nodemon, _) => &[Entry::Rerun],
                    (Tool::HotHook, Format::Esm) => &[Entry::HotHook],
                    (Tool::Dynohot, Format::Esm) => &[Entry::Boundary, Entry::SelfAccept],
                    (Tool::HotHook | Tool::Dynohot, Format::Cjs) => {
                        let (name, _) = mode_label(tool, Entry::Boundary);
                        let line =
                            format!("{name}: CommonJS apps are not reloaded (ES modules only)");
                        if !skipped.contains(&line) {
                            skipped.push(line);
                        }
                        continue;
                    }
                };
                for &entry in entries {
                    let (name, what) = mode_label(tool, entry);
                    eprintln!("  {name}, {what} …");
                    let label = format!("{} modules, {}", fmt_count(n), format.label());
                    match measure(&env, tool, &app, entry, edits) {
                        Ok(m) => {
                            let median = percentile(&m.times, 0.5);
                            let p95 = percentile(&m.times, 0.95);
                            eprintln!(
                                "    start {}, edit→new code median {}, p95 {} {}",
                                fmt_ms(m.start),
                                fmt_ms(median),
                                fmt_ms(p95),
                                m.note
                            );
                            rows.push(format!(
                                "| {label} | {name} | {what} | {} | **{}** | {} | {} |",
                                fmt_ms(m.start),
                                fmt_ms(median),
                                fmt_ms(p95),
                                m.note
                            ));
                        }
                        Err(why) => {
                            eprintln!("    failed: {why}");
                            let first = why.lines().next().unwrap_or("");
                            rows.push(format!(
                                "| {label} | {name} | {what} | | failed | | {first} |"
                            ));
                            skipped.push(format!("{name} on {label} ({what}): {why}"));
                        }
                    }
                }
            }
            if n == heap_modules && reloads > 0 && tools.contains(&Tool::Modgraph) {
                eprintln!("  heap over {reloads} reloads …");
                let label = format!("{} modules, {}", fmt_count(n), format.label());
                match heap_growth(&env, &app, reloads) {
                    Ok((per, before, after, retained)) => {
                        eprintln!("    {per:.0} bytes per reload");
                        heap_rows.push(format!(
                            "| {label} | {} | {} | **{}** | {} |",
                            fmt_mib(before),
                            fmt_mib(after),
                            fmt_bytes(per),
                            if retained >= 0 {
                                fmt_count(retained as usize)
                            } else {
                                "n/a".to_owned()
                            }
                        ));
                    }
                    Err(why) => {
                        eprintln!("    failed: {why}");
                        heap_rows.push(format!("| {label} | | | failed | |"));
                    }
                }
            }
        }
    }

    println!();
    println!("| app | tool | on save | start | edit → new code, median | p95 | notes |");
    println!("|---|---|---|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    if !heap_rows.is_empty() {
        println!();
        println!(
            "Heap under `modgraph run -- node --expose-gc` (heapUsed after `gc()`), before and after {reloads} leaf edits (entry with `hot.accept`):"
        );
        println!();
        println!(
            "| app | heap before | after | growth per reload | ES module instances retained |"
        );
        println!("|---|---|---|---|---|");
        for row in &heap_rows {
            println!("{row}");
        }
    }
    if !skipped.is_empty() {
        println!();
        for line in &skipped {
            println!("- {line}");
        }
    }
    println!(
        "\nload average at the start / end: {load_at_start} / {}",
        load_average()
    );
    if let Some(dir) = keep {
        println!("\napps kept in {}", dir.display());
    }
}

/// The 1-minute load average: other work on the machine shows in the figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn fmt_count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_mib(bytes: i64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn fmt_bytes(bytes: f64) -> String {
    if bytes.abs() >= 10240.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{bytes:.0} B")
    }
}
