//! One line per reload, as `modgraph run` and `modgraph reload` print it.

use std::path::Path;

use super::protocol::ReloadResult;

fn short(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `reloaded 3 modules in 4.1 ms: b.mjs, a.mjs, main.mjs (entry ran again)` or the error with
/// its location.
pub fn describe(result: &ReloadResult, base: &Path) -> String {
    if !result.ok {
        let Some(error) = &result.error else {
            return "reload failed; the old code keeps running".to_owned();
        };
        let location = match (&error.file, error.line) {
            (Some(file), Some(line)) => match error.column {
                Some(column) => format!(" at {}:{line}:{column}", short(file, base)),
                None => format!(" at {}:{line}", short(file, base)),
            },
            (Some(file), None) => format!(" in {}", short(file, base)),
            _ => String::new(),
        };
        let message = error.message.lines().next().unwrap_or("");
        return format!(
            "reload failed{location}: {}: {message}; the old code keeps running",
            if error.name.is_empty() {
                "Error"
            } else {
                &error.name
            }
        );
    }
    let mut line = if result.reloaded.is_empty() && !result.workers.is_empty() {
        format!("in {:.1} ms", result.duration_ms)
    } else if result.reloaded.is_empty() {
        "nothing to reload: none of the changed files is loaded".to_owned()
    } else {
        let names: Vec<String> = result.reloaded.iter().map(|p| short(p, base)).collect();
        let shown = if names.len() > 6 {
            format!("{}, … ({} more)", names[..6].join(", "), names.len() - 6)
        } else {
            names.join(", ")
        };
        let count = result.reloaded.len();
        format!(
            "reloaded {count} module{} in {:.1} ms: {shown}",
            if count == 1 { "" } else { "s" },
            result.duration_ms
        )
    };
    if !result.entries.is_empty() {
        let entries: Vec<String> = result.entries.iter().map(|p| short(p, base)).collect();
        line.push_str(&format!(" (ran {} again)", entries.join(", ")));
    }
    for swap in &result.workers {
        let module = short(Path::new(&swap.module), base);
        match &swap.error {
            None => line = format!("{line}; started a fresh worker for {module}"),
            Some(error) => {
                line = format!(
                    "{line}; the worker for {module} keeps its old code: {}",
                    error.message
                )
            }
        }
    }
    if result.reloaded.is_empty() && !result.workers.is_empty() {
        line = format!("reloaded workers {line}");
    }
    for error in &result.callback_errors {
        line.push_str(&format!("; an accept callback threw: {}", error.message));
    }
    line
}
