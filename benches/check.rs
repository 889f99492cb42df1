//! Benchmark of `modgraph check` on real code (run by hand; not a test):
//!
//!     cargo bench --bench check -- <workspace folder> [--oxlint <path to oxlint>] [--runs N]
//!
//! Prints, for the folder: the wall time of a full `check` (the release binary, in a child
//! process) with its phases and peak RSS; the floors measured in this process over the same
//! files (walk, read every file, parse every file with oxc and nothing else); and, when given,
//! the same run's figures for oxlint with its import plugin.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use oxc_allocator::Allocator;
use oxc_parser::Parser;
use oxc_span::SourceType;
use rayon::prelude::*;

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Runs a command `runs` times; returns the median wall time, the peak RSS (KiB) of the last
/// run and its stderr.
fn run_child(mut make: impl FnMut() -> Command, runs: usize) -> (Duration, u64, String) {
    let mut times = Vec::new();
    let mut rss = 0;
    let mut stderr = String::new();
    for _ in 0..runs {
        let mut cmd = Command::new("/usr/bin/time");
        let inner = make();
        cmd.arg("-f")
            .arg("MAXRSS %M")
            .arg(inner.get_program())
            .args(inner.get_args());
        if let Some(dir) = inner.get_current_dir() {
            cmd.current_dir(dir);
        }
        let started = Instant::now();
        let output = cmd
            .output()
            .expect("/usr/bin/time runs (apt-get install time)");
        times.push(started.elapsed());
        stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        rss = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("MAXRSS "))
            .filter_map(|v| v.trim().parse().ok())
            .next_back()
            .unwrap_or(0);
    }
    (median(times), rss, stderr)
}

/// Median read and parse times over `files`, and their total size.
fn floors(files: &[PathBuf], runs: usize) -> (Duration, Duration, usize) {
    let mut read_times = Vec::new();
    let mut parse_times = Vec::new();
    let mut bytes = 0usize;
    for _ in 0..runs {
        let started = Instant::now();
        let texts: Vec<String> = files
            .par_iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect();
        read_times.push(started.elapsed());
        bytes = texts.iter().map(String::len).sum();
        let started = Instant::now();
        texts
            .par_iter()
            .zip(files)
            .for_each_init(Allocator::default, |alloc, (text, path)| {
                alloc.reset();
                let source_type = SourceType::from_path(path).unwrap_or_default();
                let ret = Parser::new(alloc, text, source_type).parse();
                std::hint::black_box(ret.program.body.len());
            });
        parse_times.push(started.elapsed());
    }
    (median(read_times), median(parse_times), bytes)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(folder) = args.first().map(PathBuf::from) else {
        eprintln!(
            "usage: cargo bench --bench check -- <workspace folder> [--oxlint PATH] [--runs N]"
        );
        std::process::exit(2);
    };
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let runs: usize = flag("--runs").and_then(|r| r.parse().ok()).unwrap_or(5);
    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/modgraph");
    if !binary.exists() {
        eprintln!("build the release binary first: cargo build --release");
        std::process::exit(2);
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "folder: {}  ({cores} cores, median of {runs} warm runs)",
        folder.display()
    );

    // Warm the page cache.
    let _ = Command::new(&binary).arg("check").arg(&folder).output();

    // The check first: the floors below hold every text in memory for a while.
    let (wall, rss, stderr) = run_child(
        || {
            let mut c = Command::new(&binary);
            c.args(["check", "--format", "json", "--timings"])
                .arg(&folder);
            c
        },
        runs,
    );
    // Floors, in this process, over the files a check walks.
    let started = Instant::now();
    let files: Vec<PathBuf> = ignore::WalkBuilder::new(&folder)
        .filter_entry(|e| e.file_name() != "node_modules")
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .map(|e| e.into_path())
        .filter(|p| {
            p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                matches!(
                    e,
                    "js" | "mjs" | "cjs" | "jsx" | "ts" | "tsx" | "mts" | "cts"
                )
            })
        })
        .collect();
    let walk = started.elapsed();
    let (read, parse, bytes) = floors(&files, runs);
    println!(
        "floors over the workspace files: {} files, {:.0} MiB; walk {}, read {}, parse {} (oxc parse only), read+parse {}",
        files.len(),
        bytes as f64 / (1024.0 * 1024.0),
        ms(walk),
        ms(read),
        ms(parse),
        ms(read + parse)
    );
    // The check also parses the dependency modules the workspace reaches.
    let options = modgraph::workspace::WorkspaceOptions {
        declaration_files: false,
        ..Default::default()
    };
    let workspace =
        modgraph::workspace::Workspace::open_with(std::slice::from_ref(&folder), options)
            .expect("workspace opens");
    let parsed: Vec<PathBuf> = workspace
        .graph()
        .modules()
        .map(|(id, _)| workspace.graph().path(id).to_path_buf())
        .filter(|p| {
            modgraph::workspace::discover::is_source_file(p)
                && !modgraph::resolve::is_declaration_file(p)
        })
        .collect();
    drop(workspace);
    let (all_read, all_parse, all_bytes) = floors(&parsed, runs);
    println!(
        "floors over every file the check parses (dependencies too): {} files, {:.0} MiB; read+parse {}",
        parsed.len(),
        all_bytes as f64 / (1024.0 * 1024.0),
        ms(all_read + all_parse)
    );

    let phases = stderr
        .lines()
        .find(|l| l.starts_with("timings:"))
        .unwrap_or("timings: (none)");
    println!(
        "modgraph check: wall {}, peak RSS {:.0} MiB",
        ms(wall),
        rss as f64 / 1024.0
    );
    println!("  {phases}");
    println!(
        "  ratio to the read+parse floor: {:.2}x (workspace files), {:.2}x (every parsed file)",
        wall.as_secs_f64() / (read + parse).as_secs_f64(),
        wall.as_secs_f64() / (all_read + all_parse).as_secs_f64()
    );

    if let Some(oxlint) = flag("--oxlint") {
        let (wall, rss, _) = run_child(
            || {
                let mut c = Command::new(&oxlint);
                c.args(["-A", "all", "--import-plugin", "-D", "import/no-cycle", "."])
                    .current_dir(&folder);
                c
            },
            runs,
        );
        let version = Command::new(&oxlint)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        println!(
            "oxlint {version} (-A all --import-plugin -D import/no-cycle): wall {}, peak RSS {:.0} MiB",
            ms(wall),
            rss as f64 / 1024.0
        );
    }
}
