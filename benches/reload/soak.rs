//! `--soak N`: N reload cycles of random modules under `modgraph run` (boundary entry,
//! `node --expose-gc`) while a load thread requests the app's probe without pause. A cycle edits
//! one random module: a good edit (a new export line), or first a bad edit (a syntax error or a
//! top-level `throw`, which must fail and keep the old code running) and then a good one. Every
//! edit replaces the file in one step (write a sibling, rename over), so each is one reload.
//! Good edits of the probed leaf also carry a new version, which the probe must return.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::rng::Rng;
use super::*;

/// How long one reload may take before the cycle counts as lost.
const OUTCOME_PATIENCE: Duration = Duration::from_secs(30);
/// Pause of the load thread between two requests (each on a new connection).
const LOAD_GAP: Duration = Duration::from_millis(2);

/// One request with the reason when it fails.
fn request(port: u16, path: &str) -> Result<String, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("read: {e}"))?;
    if !response.starts_with("HTTP/1.1 200") {
        return Err(response.chars().take(300).collect());
    }
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default())
}

fn replace_file(path: &Path, text: &str) {
    let temp = path.with_extension("soak-tmp");
    std::fs::write(&temp, text)
        .and_then(|()| std::fs::rename(&temp, path))
        .unwrap_or_else(|e| die(format!("cannot write {}: {e}", path.display())));
}

pub struct SoakReport {
    pub line: String,
}

/// Every generated module of the app (the entries excluded).
fn modules(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.join("src")];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

pub fn soak(env: &Env, app: &App, cycles: usize, seed: u64) -> Result<SoakReport, String> {
    let (mut running, port) = start_boundary_app(env, app)?;
    let heap = |running: &Running| read_heap(port, running);
    let (heap_start, retained_start) = heap(&running)?;

    // The load: requests without pause until the cycles are done.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let load = {
        let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match request(port, "/") {
                    Ok(body) if body.contains(" pid=") => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(body) => failures.lock().expect("lock").push(body),
                    Err(why) => failures.lock().expect("lock").push(why),
                }
                std::thread::sleep(LOAD_GAP);
            }
        })
    };

    let files = modules(&app.dir);
    let mut originals: HashMap<PathBuf, String> = HashMap::new();
    let mut rng = Rng(seed.max(1));
    let (mut reloads_ok, mut reloads_failed, mut bad_edits) = (0usize, 0usize, 0usize);
    let mut surprises: Vec<String> = Vec::new();
    let mut seen = running.err_lines().len();
    let cycle_started = Instant::now();
    let mut outcome = |running: &Running, path: &Path| -> Option<bool> {
        let since = Instant::now();
        loop {
            let lines = running.err_lines();
            if let Some((k, line)) = lines
                .iter()
                .enumerate()
                .skip(seen)
                .find(|(_, l)| l.starts_with("modgraph: reload"))
            {
                seen = k + 1;
                return Some(!line.starts_with("modgraph: reload failed"));
            }
            if since.elapsed() > OUTCOME_PATIENCE {
                eprintln!(
                    "no reload within {OUTCOME_PATIENCE:?} after editing {}",
                    path.display()
                );
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let mut lost = 0usize;
    for cycle in 1..=cycles {
        let path = &files[rng.below(files.len())];
        let original = originals
            .entry(path.clone())
            .or_insert_with(|| std::fs::read_to_string(path).unwrap_or_default())
            .clone();
        let is_leaf = *path == app.leaf;
        let base = if is_leaf {
            leaf_text(app, &format!("s{cycle}"))
        } else {
            original
        };
        let good = format!(
            "{base}{}",
            export_const(app.format, "soakEdit", &cycle.to_string())
        );
        if rng.below(4) == 0 {
            bad_edits += 1;
            let bad = if rng.below(2) == 0 {
                format!("{base}const = ;\n")
            } else {
                format!("{base}throw new Error('soak: bad edit {cycle}');\n")
            };
            replace_file(path, &bad);
            match outcome(&running, path) {
                Some(true) => {
                    reloads_ok += 1;
                    surprises.push(format!(
                        "cycle {cycle}: a bad edit of {} reloaded",
                        path.display()
                    ));
                }
                Some(false) => reloads_failed += 1,
                None => lost += 1,
            }
        }
        replace_file(path, &good);
        match outcome(&running, path) {
            Some(true) => reloads_ok += 1,
            Some(false) => {
                reloads_failed += 1;
                surprises.push(format!(
                    "cycle {cycle}: a good edit of {} failed: {}",
                    path.display(),
                    running.err_lines().last().cloned().unwrap_or_default()
                ));
            }
            None => lost += 1,
        }
        if is_leaf {
            let version = format!("s{cycle}");
            if wait_for_version(port, &version, Instant::now(), EDIT_PATIENCE).is_none() {
                surprises.push(format!("cycle {cycle}: the probe never answered {version}"));
            }
        }
        if running.exited() {
            return Err(format!(
                "the app exited at cycle {cycle}:\n      {}",
                running.tail()
            ));
        }
    }
    let elapsed = cycle_started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = load.join();
    std::thread::sleep(Duration::from_millis(50));
    let (heap_end, retained_end) = heap(&running)?;
    drop(running);
    // Put the app back as generated.
    for (path, text) in &originals {
        let _ = std::fs::write(path, text);
    }
    write_leaf(app, "v0");
    let failures = failures.lock().expect("lock").clone();
    for (k, f) in failures.iter().take(5).enumerate() {
        println!("    failed request {}: {f}", k + 1);
    }
    for s in surprises.iter().take(10) {
        println!("    {s}");
    }
    let line = format!(
        "{} modules, {}: {cycles} cycles ({bad_edits} with a bad edit first) in {:.0} s; requests {} ok, {} failed; reloads {reloads_ok} ok, {reloads_failed} failed, {lost} lost, {} unexpected; heap {} → {} ({} per reload); ES module instances retained {}",
        fmt_count(app.modules),
        app.format.label(),
        elapsed.as_secs_f64(),
        ok.load(Ordering::Relaxed),
        failures.len(),
        surprises.len(),
        fmt_mib(heap_start),
        fmt_mib(heap_end),
        fmt_bytes((heap_end - heap_start) as f64 / (reloads_ok + reloads_failed).max(1) as f64),
        retained_end - retained_start,
    );
    Ok(SoakReport { line })
}
