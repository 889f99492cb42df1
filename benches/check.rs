//! Benchmark of `modgraph check` on real code (run by hand; not a test):
//!
//!     cargo bench --bench check -- <workspace folder> [--oxlint <path to oxlint>] [--runs N]
//!
//! Prints, for the folder: the wall time of a full `check` (the release binary, in a child
//! process) with its phases and peak RSS; the read+parse floors over the same files; and,
//! when given, the same run's figures for oxlint with its import plugin.
//!
//! A floor is the cheapest way found to read and parse every file once: a new process of this
//! program whose workers each read a file into a buffer they keep, check it is UTF-8 with SIMD
//! and parse it with oxc (without identifier hashes) into an arena they keep, on every core,
//! and do nothing else. A new process, because the check
//! is one: a loop in this process would reuse memory that earlier rounds already faulted in.
//! This process also measures the walk, and reading all files then parsing them all, once.

use std::cell::RefCell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use oxc_allocator::Allocator;
use oxc_parser::{ParseOptions, Parser};
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

/// One read and one parse of every file in `files` (on every core), and their total size.
fn floor_once(files: &[PathBuf]) -> (Duration, Duration, usize) {
    let started = Instant::now();
    let texts: Vec<String> = files
        .par_iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    let read = started.elapsed();
    let bytes = texts.iter().map(String::len).sum();
    let started = Instant::now();
    texts
        .par_iter()
        .zip(files)
        .for_each_init(Allocator::default, |alloc, (text, path)| {
            parse(alloc, path, text)
        });
    (read, started.elapsed(), bytes)
}

/// Parses `text` with oxc and nothing else, without the identifier hashes that only semantic
/// analysis uses (as the check parses).
fn parse(alloc: &mut Allocator, path: &Path, text: &str) {
    alloc.reset();
    let source_type = SourceType::from_path(path).unwrap_or_default();
    let options = ParseOptions {
        enable_ident_hashes: false,
        ..ParseOptions::default()
    };
    let ret = Parser::new(alloc, text, source_type)
        .with_options(options)
        .parse();
    std::hint::black_box(ret.program.body.len());
}

thread_local! {
    static SCRATCH: RefCell<(Allocator, Vec<u8>)> = RefCell::new(Default::default());
}

/// Reads and parses every file in `files` on every core, each worker reusing its buffer and
/// arena; the wall time and the bytes read.
fn streaming_floor(files: &[PathBuf]) -> (Duration, usize) {
    let started = Instant::now();
    let bytes = files
        .par_iter()
        .map(|path| {
            SCRATCH.with(|scratch| {
                let (alloc, buffer) = &mut *scratch.borrow_mut();
                buffer.clear();
                // The length as opened, then exactly that many bytes: one system call fewer
                // than reading to the end, as the check reads.
                let read = std::fs::File::open(path).and_then(|f| {
                    let len = f.metadata()?.len();
                    f.take(len).read_to_end(buffer)
                });
                // SIMD validation, as the check's.
                match (read, simdutf8::basic::from_utf8(buffer)) {
                    (Ok(_), Ok(text)) => {
                        parse(alloc, path, text);
                        text.len()
                    }
                    _ => 0,
                }
            })
        })
        .sum();
    (started.elapsed(), bytes)
}

const FLOOR_CHILD: &str = "--floor-child";

/// [`streaming_floor`] in a new process of this program, over the files listed in `list`.
fn floor_in_child(list: &Path) -> (Duration, usize) {
    let exe = std::env::current_exe().expect("the benchmark knows its own path");
    let output = Command::new(exe)
        .arg(FLOOR_CHILD)
        .arg(list)
        .output()
        .expect("the benchmark starts itself");
    let text = String::from_utf8_lossy(&output.stdout);
    let numbers: Vec<u64> = text
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    match numbers[..] {
        [nanos, bytes] => (Duration::from_nanos(nanos), bytes as usize),
        _ => panic!("the floor's process printed {text:?}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if let [mode, list] = &args[..]
        && mode == FLOOR_CHILD
    {
        let list = std::fs::read_to_string(list).expect("the list of files");
        let files: Vec<PathBuf> = list.lines().map(PathBuf::from).collect();
        let (wall, bytes) = streaming_floor(&files);
        println!("{} {bytes}", wall.as_nanos());
        return;
    }
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

    // The files of the floors: those a check walks, and those it parses.
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
    // The check also reads the dependency modules the workspace reaches, and skips
    // declaration files. It parses those of them that may hold an import, export or require.
    let options = modgraph::workspace::WorkspaceOptions {
        declaration_files: false,
        ..Default::default()
    };
    let workspace =
        modgraph::workspace::Workspace::open_with(std::slice::from_ref(&folder), options)
            .expect("workspace opens");
    let (read, outcomes): (Vec<PathBuf>, Vec<_>) = workspace
        .graph()
        .modules()
        .map(|(id, module)| {
            (
                workspace.graph().path(id).to_path_buf(),
                module.facts.outcome,
            )
        })
        .filter(|(p, _)| {
            modgraph::workspace::discover::is_source_file(p)
                && !modgraph::resolve::is_declaration_file(p)
        })
        .unzip();
    let scanned = outcomes
        .iter()
        .filter(|&&o| o == modgraph::extract::ParseOutcome::Scanned)
        .count();
    drop(workspace);

    let lists = tempfile::tempdir().expect("a temporary folder");
    let write_list = |name: &str, paths: &[PathBuf]| {
        let path = lists.path().join(name);
        let text: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
        std::fs::write(&path, text).expect("the list of files is written");
        path
    };
    let (files_list, read_list) = (write_list("walked", &files), write_list("read", &read));

    // Warm the page cache.
    let _ = Command::new(&binary).arg("check").arg(&folder).output();
    // Each round runs the check, then the floors, so that a busy spell of the machine weighs
    // on both sides of a ratio.
    let (mut walls, mut floors, mut all_floors) = (vec![], vec![], vec![]);
    let (mut ratios, mut all_ratios) = (vec![], vec![]);
    let (mut rss, mut stderr, mut bytes, mut all_bytes) = (0, String::new(), 0, 0);
    for _ in 0..runs {
        let (wall, peak, err) = run_child(
            || {
                let mut c = Command::new(&binary);
                c.args(["check", "--format", "json", "--timings"])
                    .arg(&folder);
                c
            },
            1,
        );
        (rss, stderr) = (peak, err);
        let (floor, b) = floor_in_child(&files_list);
        let (all_floor, all_b) = floor_in_child(&read_list);
        (bytes, all_bytes) = (b, all_b);
        ratios.push(wall.as_secs_f64() / floor.as_secs_f64());
        all_ratios.push(wall.as_secs_f64() / all_floor.as_secs_f64());
        walls.push(wall);
        floors.push(floor);
        all_floors.push(all_floor);
    }
    let rounds: Vec<String> = walls
        .iter()
        .zip(&floors)
        .zip(&all_floors)
        .map(|((w, f), a)| {
            format!(
                "{:.0}/{:.0}/{:.0}",
                w.as_secs_f64() * 1e3,
                f.as_secs_f64() * 1e3,
                a.as_secs_f64() * 1e3
            )
        })
        .collect();
    println!(
        "rounds (check / workspace floor / every-read-file floor, ms): {}",
        rounds.join(" ")
    );
    // Noise on a shared machine only ever adds time: the fastest round of each is the one
    // least disturbed, so their ratio is a second estimate beside the median of the rounds.
    let fastest = |xs: &[Duration]| xs.iter().min().copied().unwrap_or_default();
    let (fastest_check, fastest_floor, fastest_all) =
        (fastest(&walls), fastest(&floors), fastest(&all_floors));
    let (batch_read, batch_parse, _) = floor_once(&files);
    println!(
        "floors over the workspace files: {} files, {:.0} MiB; read+parse {} (in this process, once: walk {}, read all {}, then parse all {})",
        files.len(),
        bytes as f64 / (1024.0 * 1024.0),
        ms(median(floors)),
        ms(walk),
        ms(batch_read),
        ms(batch_parse)
    );
    println!(
        "floors over every file the check reads (dependencies too, no declaration files): {} files, {:.0} MiB; read+parse {}",
        read.len(),
        all_bytes as f64 / (1024.0 * 1024.0),
        ms(median(all_floors))
    );
    println!(
        "  of these the check parses {}; {scanned} hold no import, export or require and are only scanned",
        read.len() - scanned
    );
    let phases = stderr
        .lines()
        .find(|l| l.starts_with("timings:"))
        .unwrap_or("timings: (none)");
    println!(
        "modgraph check: wall {}, peak RSS {:.0} MiB",
        ms(median(walls)),
        rss as f64 / 1024.0
    );
    println!("  {phases}");
    let median_ratio = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    println!(
        "  ratio to the read+parse floor of the same round (median): {:.2}x (workspace files), {:.2}x (every read file)",
        median_ratio(ratios),
        median_ratio(all_ratios)
    );
    println!(
        "  fastest rounds: check {}, floors {} and {}: ratio {:.2}x (workspace files), {:.2}x (every read file)",
        ms(fastest_check),
        ms(fastest_floor),
        ms(fastest_all),
        fastest_check.as_secs_f64() / fastest_floor.as_secs_f64(),
        fastest_check.as_secs_f64() / fastest_all.as_secs_f64()
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
