//! The language server driven like an editor: the real binary over stdio.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{LspClient, codes, copy_project, file_uri};

fn example() -> (tempfile::TempDir, PathBuf) {
    let dir = copy_project(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/server-app"));
    let root = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
    (dir, root)
}

fn has(list: &[Value], code: &str) -> bool {
    codes(list).iter().any(|c| c == code)
}

/// The range of the first occurrence of `needle` in a one-line-per-entry text (UTF-16 = bytes
/// here: ASCII only).
fn range_of(text: &str, needle: &str) -> Value {
    let at = text.find(needle).expect("needle in text");
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1);
    json!({ "start": { "line": line, "character": col }, "end": { "line": line, "character": col + needle.len() } })
}

#[test]
fn edits_in_one_file_update_diagnostics_in_files_never_opened() {
    let (_dir, root) = example();
    let server_js = file_uri(&root.join("src/server.js"));
    let mut client = LspClient::start();
    client.initialize(&root, json!({}), None);

    // Diagnostics arrive for a file nobody opened.
    let list = client.wait_diagnostics(&server_js, |l| has(l, "stale-import/missing-export"));
    assert!(has(&list, "stale-import/missing-module"), "{list:?}");

    // Type in another file: rename the export back to what server.js imports.
    let users = root.join("src/routes/users.js");
    let text = std::fs::read_to_string(&users).expect("read users.js");
    client.open(&users, &text);
    client.change(
        &users,
        2,
        json!([{ "range": range_of(&text, "formatUserName"), "text": "formatUser" }]),
    );
    let list = client.wait_diagnostics(&server_js, |l| !has(l, "stale-import/missing-export"));
    assert!(
        has(&list, "stale-import/missing-module"),
        "other problems stay: {list:?}"
    );

    // Closing without saving returns the file to its disk content: the problem is back.
    client.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": file_uri(&users) } }),
    );
    client.wait_diagnostics(&server_js, |l| has(l, "stale-import/missing-export"));
    client.shutdown();
}

#[test]
fn quick_fix_for_letter_case_applies_and_clears_the_diagnostic() {
    let (_dir, root) = example();
    let config = root.join("src/config.js");
    let uri = file_uri(&config);
    let mut client = LspClient::start();
    client.initialize(&root, json!({}), None);
    let text = std::fs::read_to_string(&config).expect("read config.js");
    client.open(&config, &text);
    let list = client.wait_diagnostics(&uri, |l| has(l, "duplicate-module/case-mismatch"));
    let diagnostic = list
        .iter()
        .find(|d| d["code"] == "duplicate-module/case-mismatch")
        .cloned()
        .expect("case diagnostic");
    assert_eq!(
        diagnostic["severity"], 1,
        "error on a case-sensitive file system"
    );
    assert!(
        diagnostic["codeDescription"]["href"]
            .as_str()
            .is_some_and(|h| h.ends_with("case-mismatch.md"))
    );

    let response = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri }, "range": diagnostic["range"], "context": { "diagnostics": [diagnostic] } }),
    );
    let actions = response["result"]
        .as_array()
        .cloned()
        .expect("code actions");
    let action = actions
        .iter()
        .find(|a| a["title"] == "Change to './defaults.js'")
        .expect("the case fix");
    assert_eq!(action["kind"], "quickfix");
    assert_eq!(action["isPreferred"], true);
    let edit = &action["edit"]["changes"][&uri][0];
    assert_eq!(edit["newText"], "./defaults.js");

    // Apply the edit as an editor would: an incremental change with the action's range.
    client.change(
        &config,
        2,
        json!([{ "range": edit["range"], "text": edit["newText"] }]),
    );
    client.wait_diagnostics(&uri, |l| l.is_empty());
    client.shutdown();
}

#[test]
fn files_created_deleted_and_renamed_on_disk() {
    let (_dir, root) = example();
    let server_js = file_uri(&root.join("src/server.js"));
    let audit_js = file_uri(&root.join("src/plugins/audit.js"));
    let mut client = LspClient::start();
    // A client that watches: disk changes arrive only as its notifications.
    client.initialize(
        &root,
        json!({ "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } } }),
        None,
    );
    client.wait_diagnostics(&server_js, |l| has(l, "stale-import/missing-module"));

    // The missing './logger.js' appears next to server.js.
    let logger = root.join("src/logger.js");
    std::fs::write(&logger, "export function log(m) { console.log(m); }\n")
        .expect("write logger.js");
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": file_uri(&logger), "type": 1 }] }),
    );
    client.wait_diagnostics(&server_js, |l| !has(l, "stale-import/missing-module"));

    // And disappears again.
    std::fs::remove_file(&logger).expect("delete logger.js");
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": file_uri(&logger), "type": 3 }] }),
    );
    client.wait_diagnostics(&server_js, |l| has(l, "stale-import/missing-module"));

    // Move lib/logger.js to where server.js looks: audit.js (never opened) now misses it.
    let old = root.join("src/lib/logger.js");
    std::fs::rename(&old, &logger).expect("rename logger.js");
    client.notify(
        "workspace/didRenameFiles",
        json!({ "files": [{ "oldUri": file_uri(&old), "newUri": file_uri(&logger) }] }),
    );
    client.wait_diagnostics(&server_js, |l| !has(l, "stale-import/missing-module"));
    let list = client.wait_diagnostics(&audit_js, |l| has(l, "stale-import/missing-module"));
    assert_eq!(list.len(), 1, "{list:?}");
    client.shutdown();
}

#[test]
fn configuration_changes_rule_levels() {
    let (_dir, root) = example();
    let server_js = file_uri(&root.join("src/server.js"));
    let mut client = LspClient::start();
    client.initialize(
        &root,
        json!({}),
        Some(json!({ "rules": { "duplicate-module/url-variants": "off" } })),
    );
    let list = client.wait_diagnostics(&server_js, |l| has(l, "stale-import/missing-export"));
    assert!(
        !has(&list, "duplicate-module/url-variants"),
        "off through initializationOptions: {list:?}"
    );

    client.notify(
        "workspace/didChangeConfiguration",
        json!({ "settings": { "modgraph": { "rules": { "stale-import/missing-export": "off" } } } }),
    );
    let list = client.wait_diagnostics(&server_js, |l| !has(l, "stale-import/missing-export"));
    assert!(
        has(&list, "duplicate-module/url-variants"),
        "back on with the new settings: {list:?}"
    );
    let indexed = client
        .notifications
        .iter()
        .filter(|n| {
            n["method"] == "window/logMessage"
                && n["params"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("indexed"))
        })
        .count();
    assert_eq!(
        indexed, 1,
        "new rule levels do not index the workspace again"
    );
    client.shutdown();
}

/// One file with an emoji before the specifier: columns depend on the negotiated encoding.
fn emoji_start_column(capabilities: Value) -> (Value, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    std::fs::write(
        root.join("a.mjs"),
        "/* 😀 */ import { x } from './nope.mjs';\n",
    )
    .expect("write a.mjs");
    let mut client = LspClient::start();
    let init = client.initialize(&root, capabilities, None);
    let encoding = init["result"]["capabilities"]["positionEncoding"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let list = client.wait_diagnostics(&file_uri(&root.join("a.mjs")), |l| !l.is_empty());
    client.shutdown();
    (list[0]["range"]["start"]["character"].clone(), encoding)
}

#[test]
fn columns_follow_the_negotiated_position_encoding() {
    let (utf16, encoding) = emoji_start_column(json!({}));
    assert_eq!((utf16, encoding.as_str()), (json!(27), "utf-16"));
    let (utf8, encoding) =
        emoji_start_column(json!({ "general": { "positionEncodings": ["utf-8", "utf-16"] } }));
    assert_eq!((utf8, encoding.as_str()), (json!(29), "utf-8"));
}

#[test]
fn bad_client_input_is_ignored_and_the_server_keeps_answering() {
    let (_dir, root) = example();
    let config = root.join("src/config.js");
    let mut client = LspClient::start();
    client.initialize(&root, json!({}), None);
    // Edits to a document never opened, a non-file URI, out-of-range and reversed ranges,
    // a version going backwards, and a frame that is not JSON.
    client.change(
        &root.join("src/never-opened.js"),
        5,
        json!([{ "text": "import './x.js';" }]),
    );
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": "untitled:Untitled-1", "languageId": "javascript", "version": 1, "text": "import './x.js'" } }),
    );
    let text = std::fs::read_to_string(&config).expect("read config.js");
    client.open(&config, &text);
    client.change(&config, 2, json!([{ "range": { "start": { "line": 99, "character": 0 }, "end": { "line": 120, "character": 5 } }, "text": "\n// tail\n" }]));
    client.change(&config, 3, json!([{ "range": { "start": { "line": 0, "character": 40 }, "end": { "line": 0, "character": 2 } }, "text": "" }]));
    client.change(&config, 1, json!([{ "text": "" }]));
    client.send_raw(b"Content-Length: 9\r\n\r\nnot json!");
    // The server still works: the case problem in config.js is still reported and answered.
    let uri = file_uri(&config);
    let list = client.wait_diagnostics(&uri, |l| has(l, "duplicate-module/case-mismatch"));
    let response = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri }, "range": list[0]["range"], "context": { "diagnostics": [] } }),
    );
    assert!(response.get("result").is_some(), "{response}");
    client.shutdown();
}

/// Position (line, character) of the first occurrence of `needle` plus `delta` characters.
fn position_of(text: &str, needle: &str, delta: usize) -> Value {
    let range = range_of(text, needle);
    json!({ "line": range["start"]["line"], "character": range["start"]["character"].as_u64().unwrap_or(0) as usize + delta })
}

#[test]
fn navigation_hover_definition_links_references_and_commands() {
    let (_dir, root) = example();
    let server = root.join("src/server.js");
    let uri = file_uri(&server);
    let text = std::fs::read_to_string(&server).expect("read server.js");
    let mut client = LspClient::start();
    client.initialize(&root, json!({}), None);
    client.open(&server, &text);

    let on_ms = position_of(&text, "'ms'", 1);
    let hover = client.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri }, "position": on_ms }),
    );
    let shown = hover["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        shown.contains("package: ms@2.1.3") && shown.contains("instances: 2 copies"),
        "{shown}"
    );

    let on_users = position_of(&text, "'./routes/users.js'", 3);
    let definition = client.request(
        "textDocument/definition",
        json!({ "textDocument": { "uri": uri }, "position": on_users }),
    );
    assert_eq!(
        definition["result"]["uri"],
        file_uri(&root.join("src/routes/users.js"))
    );

    let links = client.request(
        "textDocument/documentLink",
        json!({ "textDocument": { "uri": uri } }),
    );
    let targets: Vec<&str> = links["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["target"].as_str())
        .collect();
    assert!(
        targets.contains(&file_uri(&root.join("src/store.js")).as_str()),
        "{targets:?}"
    );
    assert!(
        !targets.iter().any(|t| t.ends_with("logger.js")),
        "no link for a missing module: {targets:?}"
    );

    // Who imports store.js: server.js and metrics.js.
    let store = root.join("src/store.js");
    let references = client.request(
        "textDocument/references",
        json!({ "textDocument": { "uri": file_uri(&store) }, "position": { "line": 0, "character": 0 }, "context": { "includeDeclaration": false } }),
    );
    let mut importers: Vec<&str> = references["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["uri"].as_str())
        .collect();
    importers.sort();
    assert_eq!(
        importers,
        [file_uri(&root.join("src/metrics.js")), file_uri(&server)]
    );

    let dependents = client.request(
        "workspace/executeCommand",
        json!({ "command": "modgraph.showDependents", "arguments": [file_uri(&store)] }),
    );
    let mut files: Vec<&str> = dependents["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["uri"].as_str())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            file_uri(&root.join("src/main.js")),
            file_uri(&root.join("src/metrics.js")),
            uri.clone()
        ]
    );

    let graph = client.request(
        "workspace/executeCommand",
        json!({ "command": "modgraph.graph", "arguments": [file_uri(&store), "mermaid"] }),
    );
    let text = graph["result"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("graph LR")
            && text.contains("src/store.js")
            && text.contains("src/metrics.js"),
        "{text}"
    );

    let unknown = client.request(
        "workspace/executeCommand",
        json!({ "command": "modgraph.nope", "arguments": [] }),
    );
    assert!(unknown.get("error").is_some(), "{unknown}");
    client.shutdown();
}

#[test]
fn clients_that_pull_get_diagnostics_by_request_only() {
    let (_dir, root) = example();
    let server_js = file_uri(&root.join("src/server.js"));
    let mut client = LspClient::start();
    let init = client.initialize(
        &root,
        json!({ "textDocument": { "diagnostic": { "dynamicRegistration": false } } }),
        None,
    );
    assert_eq!(
        init["result"]["capabilities"]["diagnosticProvider"]["workspaceDiagnostics"],
        true
    );

    // The answer waits for the workspace to be indexed, like any query after `initialized`.
    let report = client.request("workspace/diagnostic", json!({ "previousResultIds": [] }));
    let items = report["result"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let server = items
        .iter()
        .find(|i| i["uri"] == server_js)
        .expect("server.js has diagnostics");
    assert!(has(
        server["items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default(),
        "stale-import/missing-export"
    ));

    let document = client.request(
        "textDocument/diagnostic",
        json!({ "textDocument": { "uri": server_js } }),
    );
    assert_eq!(document["result"]["kind"], "full");
    assert!(has(
        document["result"]["items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default(),
        "stale-import/missing-module"
    ));
    assert!(
        !client
            .notifications
            .iter()
            .any(|n| n["method"] == "textDocument/publishDiagnostics"),
        "nothing is pushed to a client that pulls"
    );
    client.shutdown();
}

#[test]
fn pull_clients_that_accept_refresh_are_asked_to_pull_again_after_a_change() {
    let (_dir, root) = example();
    let mut client = LspClient::start();
    client.initialize(
        &root,
        json!({
            "textDocument": { "diagnostic": { "dynamicRegistration": false } },
            "workspace": { "diagnostics": { "refreshSupport": true } },
        }),
        None,
    );
    client.request("workspace/diagnostic", json!({ "previousResultIds": [] }));
    // The missing './logger.js' appears: server.js's diagnostics change though it is not open.
    let logger = root.join("src/logger.js");
    std::fs::write(&logger, "export function log(m) { console.log(m); }\n").expect("write");
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": file_uri(&logger), "type": 1 }] }),
    );
    client.wait_message(|m| m["method"] == "workspace/diagnostic/refresh");
    let server_js = file_uri(&root.join("src/server.js"));
    let document = client.request(
        "textDocument/diagnostic",
        json!({ "textDocument": { "uri": server_js } }),
    );
    let items = document["result"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!has(&items, "stale-import/missing-module"), "{items:?}");
    client.shutdown();
}

#[test]
fn documents_keep_the_uri_spelling_of_the_client() {
    // `@` may be escaped or not in a file URI; the client's spelling must come back.
    let dir = tempfile::tempdir().expect("temp dir");
    let root = std::fs::canonicalize(dir.path())
        .expect("canonical")
        .join("@scope");
    std::fs::create_dir_all(&root).expect("create folder");
    std::fs::write(root.join("utils.mjs"), "export const u = 1;\n").expect("write utils");
    let main = root.join("main.mjs");
    let text = "import { u } from './Utils.mjs';\n";
    std::fs::write(&main, text).expect("write main");
    let mut client = LspClient::start();
    client.initialize(&root, json!({}), None);
    client.open(&main, text);
    let uri = file_uri(&main);
    assert!(uri.contains("/@scope/"), "{uri}");
    let list = client.wait_diagnostics(&uri, |l| has(l, "duplicate-module/case-mismatch"));
    let response = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri }, "range": list[0]["range"], "context": { "diagnostics": list } }),
    );
    let actions = response["result"].as_array().cloned().unwrap_or_default();
    assert_eq!(actions.len(), 1, "{response}");
    assert!(
        actions[0]["edit"]["changes"].get(&uri).is_some(),
        "edits name the document as the client does: {response}"
    );
    client.shutdown();
}

#[test]
fn workspace_folders_can_be_added_and_removed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = std::fs::canonicalize(dir.path()).expect("canonical");
    let (a, b) = (base.join("a"), base.join("b"));
    for folder in [&a, &b] {
        std::fs::create_dir_all(folder).expect("create folder");
        std::fs::write(folder.join("main.mjs"), "import './gone.mjs';\n").expect("write main");
    }
    let (a_main, b_main) = (file_uri(&a.join("main.mjs")), file_uri(&b.join("main.mjs")));
    let mut client = LspClient::start();
    client.initialize(&a, json!({}), None);
    client.wait_diagnostics(&a_main, |l| has(l, "stale-import/missing-module"));
    assert!(
        client
            .notifications
            .iter()
            .any(|n| n["method"] == "window/logMessage"
                && n["params"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("indexed 1 file ("))),
        "the user's log says what was indexed"
    );

    client.notify(
        "workspace/didChangeWorkspaceFolders",
        json!({ "event": { "added": [{ "uri": file_uri(&b), "name": "b" }], "removed": [{ "uri": file_uri(&a), "name": "a" }] } }),
    );
    client.wait_diagnostics(&b_main, |l| has(l, "stale-import/missing-module"));
    client.wait_diagnostics(&a_main, |l| l.is_empty());
    client.shutdown();
}

#[test]
fn renaming_files_updates_every_import_of_them() {
    let (_dir, root) = example();
    let mut client = LspClient::start();
    client.initialize(&root, json!({}), None);
    let (logger, log) = (root.join("src/lib/logger.js"), root.join("src/util/log.js"));
    let (users, moved_users) = (root.join("src/routes/users.js"), root.join("src/users.js"));
    let response = client.request(
        "workspace/willRenameFiles",
        json!({ "files": [
            { "oldUri": file_uri(&logger), "newUri": file_uri(&log) },
            { "oldUri": file_uri(&users), "newUri": file_uri(&moved_users) },
        ] }),
    );
    let changes = &response["result"]["changes"];
    let new_texts = |file: &str| -> Vec<String> {
        let mut texts: Vec<String> = changes[file_uri(&root.join(file))]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["newText"].as_str().map(str::to_string))
            .collect();
        texts.sort();
        texts
    };
    assert_eq!(
        new_texts("src/plugins/audit.js"),
        ["../util/log.js"],
        "{response}"
    );
    assert_eq!(new_texts("src/server.js"), ["./users.js"], "{response}");
    // The moved file's own relative import, edited where the file is before the move.
    assert_eq!(
        new_texts("src/routes/users.js"),
        ["./lib/db.js"],
        "{response}"
    );
    client.shutdown();
}

/// A folder of `count` modules, each importing the next; the last imports a missing file.
fn chain(count: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
    for i in 0..count {
        let next = if i + 1 == count {
            "./missing.mjs".to_string()
        } else {
            format!("./m{}.mjs", i + 1)
        };
        std::fs::write(
            root.join(format!("m{i}.mjs")),
            format!("import '{next}';\n"),
        )
        .expect("write module");
    }
    (dir, root)
}

fn is_progress(message: &Value, kind: &str) -> bool {
    message["method"] == "$/progress" && message["params"]["value"]["kind"] == kind
}

/// "12/40 files" → (12, 40).
fn files_of(message: &str) -> Option<(usize, usize)> {
    let counts = message.split_whitespace().find(|w| w.contains('/'))?;
    let (done, total) = counts.split_once('/')?;
    Some((done.parse().ok()?, total.parse().ok()?))
}

#[test]
fn indexing_reports_cancellable_work_done_progress() {
    let (_dir, root) = chain(25);
    let mut client = LspClient::start();
    client.initialize(
        &root,
        json!({ "window": { "workDoneProgress": true } }),
        None,
    );
    let end = client.wait_message(|m| is_progress(m, "end"));
    let token = end["params"]["token"].clone();
    let ours: Vec<&Value> = client
        .messages
        .iter()
        .filter(|m| m["params"]["token"] == token)
        .collect();
    assert_eq!(
        ours[0]["method"], "window/workDoneProgress/create",
        "the token is created before it is used: {ours:?}"
    );
    let begin = &ours[1]["params"]["value"];
    assert_eq!(begin["kind"], "begin", "{ours:?}");
    assert_eq!(begin["cancellable"], true);
    let reports: Vec<&Value> = ours
        .iter()
        .filter(|m| is_progress(m, "report"))
        .map(|m| &m["params"]["value"])
        .collect();
    let last = reports.last().expect("at least one report");
    assert_eq!(
        last["message"].as_str().and_then(files_of),
        Some((25, 25)),
        "{reports:?}"
    );
    assert_eq!(last["percentage"], 100);
    let percentages: Vec<u64> = reports
        .iter()
        .filter_map(|r| r["percentage"].as_u64())
        .collect();
    assert!(
        percentages.windows(2).all(|w| w[0] <= w[1]),
        "{percentages:?}"
    );
    assert!(is_progress(ours[ours.len() - 1], "end"));
    client.shutdown();
}

#[test]
fn no_progress_for_clients_that_do_not_offer_it() {
    let (_dir, root) = chain(3);
    let last = file_uri(&root.join("m2.mjs"));
    let mut client = LspClient::start();
    client.initialize(&root, json!({}), None);
    client.wait_diagnostics(&last, |l| has(l, "stale-import/missing-module"));
    assert!(
        !client
            .messages
            .iter()
            .any(|m| m["method"].as_str().is_some_and(|m| m.contains("rogress"))),
        "{:?}",
        client.messages
    );
    client.shutdown();
}

#[test]
fn cancelling_the_index_keeps_the_server_working() {
    let (_dir, root) = chain(40);
    // Indexing holds after 3 files until the cancel arrives: the cancel lands mid-index.
    let mut client = LspClient::start_with_env(&[("MODGRAPH_TEST_PAUSE_INDEX_AFTER", "3")]);
    client.initialize(
        &root,
        json!({ "window": { "workDoneProgress": true } }),
        None,
    );
    // A report of the held files (reports come while indexing is held).
    let report = client.wait_message(|m| {
        is_progress(m, "report")
            && m["params"]["value"]["message"]
                .as_str()
                .and_then(files_of)
                .is_some_and(|(done, _)| done >= 3)
    });
    let token = report["params"]["token"].clone();
    client.notify("window/workDoneProgress/cancel", json!({ "token": token }));
    let end = client.wait_message(|m| is_progress(m, "end"));
    assert_eq!(end["params"]["token"], token);
    let message = end["params"]["value"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.starts_with("cancelled after"), "{message}");
    let (done, total) = files_of(&message).expect("counts in the end message");
    assert!(done >= 3 && done < total && total == 40, "{message}");

    // The server answers and follows edits, also of files the index never reached.
    let response = client.request("workspace/diagnostic", json!({ "previousResultIds": [] }));
    assert!(response.get("error").is_none(), "{response}");
    let file = root.join("m20.mjs");
    let uri = file_uri(&file);
    client.open(&file, "import './nowhere.mjs';\n");
    client.wait_diagnostics(&uri, |l| has(l, "stale-import/missing-module"));
    client.change(&file, 2, json!([{ "text": "import './m21.mjs';\n" }]));
    client.wait_diagnostics(&uri, |l| l.is_empty());
    assert!(
        client
            .notifications
            .iter()
            .any(|n| n["method"] == "window/logMessage"
                && n["params"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("indexing cancelled after"))),
        "the user's log says what the diagnostics cover"
    );
    client.shutdown();
}

fn logged(client: &LspClient, needle: &str) -> bool {
    client.notifications.iter().any(|n| {
        n["method"] == "window/logMessage"
            && n["params"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(needle))
    })
}

#[test]
fn clients_that_cannot_watch_files_get_the_servers_own_watcher() {
    let (_dir, root) = example();
    let server_js = file_uri(&root.join("src/server.js"));
    let mut client = LspClient::start();
    client.initialize(&root, json!({}), None);
    client.wait_diagnostics(&server_js, |l| has(l, "stale-import/missing-module"));
    assert!(logged(&client, "watching 1 workspace folder"));
    assert!(
        !client
            .messages
            .iter()
            .any(|m| m["method"] == "client/registerCapability"),
        "nothing to register with a client that cannot watch"
    );

    // Created behind the client's back: the missing './logger.js' appears.
    let logger = root.join("src/logger.js");
    std::fs::write(&logger, "export function log(m) { console.log(m); }\n")
        .expect("write logger.js");
    client.wait_diagnostics(&server_js, |l| !has(l, "stale-import/missing-module"));

    // Changed: users.js exports the name server.js imports.
    let users = root.join("src/routes/users.js");
    let text = std::fs::read_to_string(&users).expect("read users.js");
    std::fs::write(&users, text.replace("formatUserName", "formatUser")).expect("write users.js");
    client.wait_diagnostics(&server_js, |l| !has(l, "stale-import/missing-export"));

    // Deleted again.
    std::fs::remove_file(&logger).expect("delete logger.js");
    client.wait_diagnostics(&server_js, |l| has(l, "stale-import/missing-module"));
    client.shutdown();
}

#[test]
fn clients_that_watch_files_register_and_get_no_second_watcher() {
    let (_dir, root) = example();
    let server_js = file_uri(&root.join("src/server.js"));
    let mut client = LspClient::start();
    client.initialize(
        &root,
        json!({ "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } } }),
        None,
    );
    client.wait_message(|m| {
        m["method"] == "client/registerCapability"
            && m["params"]["registrations"][0]["method"] == "workspace/didChangeWatchedFiles"
    });
    client.wait_diagnostics(&server_js, |l| has(l, "stale-import/missing-module"));
    // The indexing log line and the watcher's would come in the same burst, before its
    // diagnostics.
    assert!(logged(&client, "indexed "));
    assert!(!logged(&client, "watching "), "{:?}", client.notifications);
    client.shutdown();
}

/// Diagnostics of every file, as comparable text, once the server has applied everything sent.
fn settled_diagnostics(client: &mut LspClient) -> std::collections::BTreeMap<String, Vec<String>> {
    let report = client.request("workspace/diagnostic", json!({ "previousResultIds": [] }));
    report["result"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let items = normalised(item["items"].as_array()?);
            (!items.is_empty()).then(|| {
                (
                    support::decode(item["uri"].as_str().unwrap_or_default()),
                    items,
                )
            })
        })
        .collect()
}

fn normalised(list: &[Value]) -> Vec<String> {
    let mut items: Vec<String> = list
        .iter()
        .map(|d| format!("{} {} {}", d["code"], d["range"], d["message"]))
        .collect();
    items.sort();
    items
}

/// Starts a fresh server on the disk as it is and waits until `client`'s pushed diagnostics
/// equal the fresh server's.
fn converges_to_a_fresh_start(client: &mut LspClient, root: &Path) {
    let mut fresh = LspClient::start();
    fresh.initialize(
        root,
        json!({ "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } } }),
        None,
    );
    let truth = settled_diagnostics(&mut fresh);
    fresh.shutdown();
    client.wait_all_diagnostics(|pushed| {
        let pushed: std::collections::BTreeMap<String, Vec<String>> = pushed
            .iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(uri, list)| (support::decode(uri), normalised(list)))
            .collect();
        pushed == truth
    });
}

#[test]
fn bursts_seen_by_the_servers_own_watcher_converge_to_a_fresh_start() {
    let (_dir, root) = example();
    let server_js = file_uri(&root.join("src/server.js"));
    let mut client = LspClient::start();
    client.initialize(&root, json!({}), None);
    client.wait_diagnostics(&server_js, |l| has(l, "stale-import/missing-module"));

    // A checkout-like burst: a folder moved, a file deleted, hundreds of files written.
    std::fs::rename(root.join("src/lib"), root.join("src/library")).expect("move lib");
    std::fs::remove_file(root.join("src/routes/users.js")).expect("delete users.js");
    std::fs::create_dir_all(root.join("src/gen")).expect("create gen");
    for i in 0..300 {
        let import = if i % 3 == 0 {
            "../library/db.js".to_string()
        } else {
            format!("./g{}.js", i + 1)
        };
        std::fs::write(
            root.join(format!("src/gen/g{i}.js")),
            format!("import {{ x }} from '{import}';\nexport const y = x;\n"),
        )
        .expect("write generated file");
    }
    converges_to_a_fresh_start(&mut client, &root);

    // Larger than following file by file: the server indexes again.
    std::fs::remove_dir_all(root.join("src/gen")).expect("delete gen");
    std::fs::create_dir_all(root.join("src/many")).expect("create many");
    for i in 0..1200 {
        std::fs::write(
            root.join(format!("src/many/f{i}.mjs")),
            format!("import './f{}.mjs';\n", i + 1),
        )
        .expect("write file");
    }
    converges_to_a_fresh_start(&mut client, &root);
    client.shutdown();
}

#[test]
fn the_server_exits_when_its_client_vanishes_without_shutdown() {
    let (_dir, root) = example();
    let server_js = file_uri(&root.join("src/server.js"));
    let mut client = LspClient::start();
    client.initialize(&root, json!({}), None);
    client.wait_diagnostics(&server_js, |l| has(l, "stale-import/missing-module"));
    let status = client.vanish();
    assert!(status.success(), "{status}");
}

/// Stdin closes (the editor is gone) at other moments than after indexing: before
/// `initialize`, in the middle of a message, and while indexing is held mid-way. Each time the
/// server exits with code 0.
#[test]
fn the_server_exits_cleanly_whenever_stdin_closes() {
    let client = LspClient::start();
    let status = client.vanish();
    assert_eq!(status.code(), Some(0), "before initialize: {status}");

    let (_dir, root) = example();
    let mut client = LspClient::start();
    client.initialize(&root, json!({}), None);
    client.send_raw(b"Content-Length: 120\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":");
    let status = client.vanish();
    assert_eq!(status.code(), Some(0), "mid-message: {status}");

    let (_dir, root) = chain(40);
    let mut client = LspClient::start_with_env(&[("MODGRAPH_TEST_PAUSE_INDEX_AFTER", "3")]);
    client.initialize(
        &root,
        json!({ "window": { "workDoneProgress": true } }),
        None,
    );
    // Indexing holds after 3 files (until a cancel that never comes).
    client.wait_message(|m| {
        is_progress(m, "report")
            && m["params"]["value"]["message"]
                .as_str()
                .and_then(files_of)
                .is_some_and(|(done, _)| done >= 3)
    });
    let status = client.vanish();
    assert_eq!(status.code(), Some(0), "while indexing: {status}");
}

/// A folder replaced by a file of the same name and back, reported the way editors coalesce
/// it: only a change (type 2) for the folder → file, only a creation (type 1) for the file →
/// folder. The server's diagnostics follow the disk.
#[test]
fn a_folder_replaced_by_a_file_through_watched_file_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
    let write = |name: &str, text: &str| {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("folder");
        std::fs::write(path, text).expect("write");
    };
    write(
        "main.cjs",
        "require('./lib.js');\nrequire('./lib.js/util.js');\n",
    );
    write(
        "lib.js/index.js",
        "require('./util.js');\nrequire('./gone.js');\n",
    );
    write("lib.js/util.js", "module.exports = 2;\n");
    let main = file_uri(&root.join("main.cjs"));
    let index = file_uri(&root.join("lib.js/index.js"));
    let lib = root.join("lib.js");
    let mut client = LspClient::start();
    client.initialize(
        &root,
        json!({ "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } } }),
        None,
    );
    client.wait_diagnostics(&index, |l| has(l, "stale-import/missing-module"));

    std::fs::remove_dir_all(&lib).expect("delete lib.js/");
    write("lib.js", "module.exports = 3;\n");
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": file_uri(&lib), "type": 2 }] }),
    );
    client.wait_diagnostics(&main, |l| has(l, "stale-import/missing-module"));
    client.wait_diagnostics(&index, |l| l.is_empty());
    converges_to_a_fresh_start(&mut client, &root);

    std::fs::remove_file(&lib).expect("delete lib.js");
    write(
        "lib.js/index.js",
        "require('./util.js');\nrequire('./gone.js');\n",
    );
    write("lib.js/util.js", "module.exports = 2;\n");
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": file_uri(&lib), "type": 1 }] }),
    );
    client.wait_diagnostics(&main, |l| l.is_empty());
    client.wait_diagnostics(&index, |l| has(l, "stale-import/missing-module"));
    converges_to_a_fresh_start(&mut client, &root);
    client.shutdown();
}
