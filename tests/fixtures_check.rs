//! Every project under `tests/fixtures/` is checked by the real binary; its JSON output is a
//! snapshot next to the fixture's `EXPECTED.md`, which says in words what must and must not be
//! reported.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Runs `modgraph check --format json` on a fixture; returns (exit code, JSON with the absolute
/// root redacted).
fn check_json(name: &str) -> (i32, serde_json::Value) {
    let dir = fixtures_dir().join(name);
    let output = Command::new(env!("CARGO_BIN_EXE_modgraph"))
        .args(["check", "--format", "json"])
        .arg(&dir)
        .output()
        .expect("the modgraph binary runs");
    let stdout = String::from_utf8(output.stdout).expect("JSON output is UTF-8");
    let mut value: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{name}: output is not JSON ({e}):\n{stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    value["root"] = serde_json::Value::String("<fixture>".into());
    (output.status.code().unwrap_or(-1), value)
}

fn codes_at(value: &serde_json::Value) -> Vec<String> {
    value["diagnostics"]
        .as_array()
        .map(|ds| {
            ds.iter()
                .map(|d| {
                    format!(
                        "{}:{} {}",
                        d["file"].as_str().unwrap_or("?"),
                        d["line"],
                        d["code"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

macro_rules! fixture {
    ($test:ident, $name:literal, exit = $exit:expr) => {
        #[test]
        fn $test() {
            let (code, value) = check_json($name);
            insta::with_settings!({
                snapshot_path => fixtures_dir().join($name),
                prepend_module_to_snapshot => false,
                omit_expression => true,
            }, {
                insta::assert_json_snapshot!("check", value);
            });
            assert_eq!(code, $exit, "{}: exit code; diagnostics: {:?}", $name, codes_at(&value));
        }
    };
}

fixture!(missing_module, "missing-module", exit = 1);
fixture!(
    missing_module_no_node_modules,
    "missing-module-no-node-modules",
    exit = 0
);
fixture!(missing_export, "missing-export", exit = 1);
fixture!(cache_busting, "cache-busting", exit = 0);
fixture!(partial_invalidation, "partial-invalidation", exit = 0);
fixture!(esm_cache_delete, "esm-cache-delete", exit = 1);
fixture!(case_mismatch, "case-mismatch", exit = 1);
fixture!(package_copies, "package-copies", exit = 0);
fixture!(dual_package, "dual-package", exit = 0);
fixture!(url_variants, "url-variants", exit = 0);
fixture!(import_cycle, "import-cycle", exit = 0);
fixture!(bad_input, "bad-input", exit = 0);
fixture!(ts_project, "ts-project", exit = 1);

#[test]
fn invalid_configuration_names_the_key_and_exits_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_modgraph"))
        .arg("check")
        .arg(fixtures_dir().join("config-invalid"))
        .output()
        .expect("the modgraph binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("rulez") && stderr.contains("modgraph.json"),
        "stderr: {stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "no diagnostics with a broken configuration"
    );
}

#[test]
fn unreadable_root_exits_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_modgraph"))
        .args(["check", "/nonexistent/modgraph-root"])
        .output()
        .expect("the modgraph binary runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/modgraph-root"));
}

#[test]
fn bad_usage_exits_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_modgraph"))
        .args(["check", "--format", "yaml"])
        .output()
        .expect("the modgraph binary runs");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_workspace_over_max_files_indexes_the_first_ones_and_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("modgraph.json"), r#"{ "maxFiles": 3 }"#).expect("write");
    for name in ["a", "b", "c", "d", "e"] {
        // `e.mjs` would report a missing module, but it is past the limit.
        let text = if name == "e" {
            "import './gone.mjs';\n"
        } else {
            "export {};\n"
        };
        std::fs::write(dir.path().join(format!("{name}.mjs")), text).expect("write");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_modgraph"))
        .arg("check")
        .arg(dir.path())
        .output()
        .expect("the modgraph binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stderr.contains("5 source files, more than the limit of 3") && stderr.contains("maxFiles"),
        "stderr: {stderr}"
    );
    assert!(stdout.contains("in 3 files"), "stdout: {stdout}");
    assert_eq!(output.status.code(), Some(0), "stdout: {stdout}");
}

#[test]
fn dual_package_lists_a_bounded_number_of_related_sites() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write("package.json", r#"{ "name": "app", "type": "module" }"#);
    write(
        "node_modules/dual/package.json",
        r#"{ "name": "dual", "exports": { "import": "./m.mjs", "require": "./c.cjs" } }"#,
    );
    write("node_modules/dual/m.mjs", "export const x = 1;\n");
    write("node_modules/dual/c.cjs", "exports.x = 1;\n");
    let mut main = String::new();
    for i in 0..12 {
        write(
            &format!("src/a{i}.mjs"),
            "import { x } from 'dual';\nexport const y = x;\n",
        );
        main.push_str(&format!("import './a{i}.mjs';\n"));
    }
    write(
        "src/r.cjs",
        "const { x } = require('dual');\nmodule.exports = x;\n",
    );
    main.push_str("import './r.cjs';\n");
    write("src/main.mjs", &main);
    let output = Command::new(env!("CARGO_BIN_EXE_modgraph"))
        .args(["check", "--format", "json"])
        .arg(root)
        .output()
        .expect("the modgraph binary runs");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let on_require = report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .find(|d| d["code"] == "duplicate-module/dual-package" && d["file"] == "src/r.cjs")
        .cloned()
        .expect("the require site is reported");
    assert_eq!(
        on_require["related"].as_array().map(Vec::len),
        Some(8),
        "{on_require}"
    );
    let message = on_require["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("4 more import and require sites of 'dual'"),
        "{message}"
    );
}

/// Permissions removed inside the workspace: an unreadable file stays in the graph (its
/// importers resolve it) with a note on stderr and no facts; an unreadable folder is not
/// indexed. The check finishes normally. Root ignores permission bits, so as root the check
/// runs as user 65534 (`nobody`).
#[cfg(unix)]
#[test]
fn unreadable_files_and_folders_are_noted_or_skipped() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    std::fs::write(root.join("main.mjs"), "import './a.mjs';\n").expect("write");
    // Both would be reported if they were read.
    std::fs::write(root.join("a.mjs"), "import './nowhere-a.mjs';\n").expect("write");
    std::fs::create_dir(root.join("locked")).expect("mkdir");
    std::fs::write(root.join("locked/b.mjs"), "import './nowhere-b.mjs';\n").expect("write");
    mode(&root, 0o755);
    mode(&root.join("main.mjs"), 0o644);
    mode(&root.join("a.mjs"), 0o000);
    mode(&root.join("locked"), 0o000);

    let mut command = Command::new(env!("CARGO_BIN_EXE_modgraph"));
    command.args(["check", "--format", "json"]).arg(&root);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // The binary must be reachable for that user too (cargo's target folder usually is).
        command.uid(65534).gid(65534);
    }
    let output = command.output().expect("the modgraph binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["diagnostics"], serde_json::json!([]), "{report}");
    assert_eq!(report["modules"], 2, "main.mjs and a.mjs: {report}");
    assert!(
        stderr.contains("a.mjs: cannot read: Permission denied"),
        "{stderr}"
    );
    mode(&root.join("locked"), 0o755);
}
