//! Property: any sequence of editor and disk operations sent to the server leaves its published
//! diagnostics equal to those of a fresh server started on the final disk state.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use proptest::prelude::*;
use serde_json::{Value, json};
use support::project::{FILES, LINES, Op, content, op, write};
use support::{LspClient, file_uri, normalise};

#[derive(Debug, Clone)]
enum EditorOp {
    Disk(Op),
    Open(usize),
    /// Replace the whole buffer (even `lines` length) or insert one line at the top.
    Edit(usize, Vec<usize>),
    Save(usize),
    Close(usize),
}

fn editor_op() -> impl Strategy<Value = EditorOp> {
    prop_oneof![
        3 => op().prop_map(EditorOp::Disk),
        1 => (0..FILES.len()).prop_map(EditorOp::Open),
        2 => (0..FILES.len(), prop::collection::vec(0..LINES.len(), 0..5)).prop_map(|(f, l)| EditorOp::Edit(f, l)),
        1 => (0..FILES.len()).prop_map(EditorOp::Save),
        1 => (0..FILES.len()).prop_map(EditorOp::Close),
    ]
}

fn is_source(file: &str) -> bool {
    !file.ends_with(".json")
}

/// The server's diagnostics once every earlier message is applied (`workspace/diagnostic` is
/// answered in order), after checking that what it pushed converges to the same.
fn settled(client: &mut LspClient) -> BTreeMap<String, Vec<String>> {
    let report = client.request("workspace/diagnostic", json!({ "previousResultIds": [] }));
    let truth: BTreeMap<String, Vec<String>> = report["result"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let items = normalise(item["items"].as_array()?);
            (!items.is_empty())
                .then(|| (item["uri"].as_str().unwrap_or_default().to_string(), items))
        })
        .collect();
    // Notifications may arrive after the response: wait for the pushed state to match.
    client.wait_all_diagnostics(|pushed| {
        let pushed: BTreeMap<String, Vec<String>> = pushed
            .iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(uri, list)| (uri.clone(), normalise(list)))
            .collect();
        pushed == truth
    });
    truth
}

/// A client that watches files and says so (the server then starts no watcher of its own, and
/// disk changes arrive only as the notifications this test sends).
fn watching_client() -> Value {
    json!({ "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } } })
}

fn watched(client: &mut LspClient, path: &Path, kind: u8) {
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": file_uri(path), "type": kind }] }),
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: support::project::cases(24), ..ProptestConfig::default() })]

    #[test]
    fn published_diagnostics_equal_a_fresh_start(
        initial in prop::collection::vec((0..FILES.len(), prop::collection::vec(0..LINES.len(), 0..6)), 1..6),
        ops in prop::collection::vec(editor_op(), 1..12),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
        for (f, lines) in &initial {
            write(&root, FILES[*f], &content(FILES[*f], lines));
        }
        let mut client = LspClient::start();
        client.initialize(&root, watching_client(), None);
        let mut open: HashMap<usize, (String, i32)> = HashMap::new();
        for op in &ops {
            match op {
                EditorOp::Disk(Op::Write(f, lines)) => {
                    let path = root.join(FILES[*f]);
                    let existed = path.exists();
                    write(&root, FILES[*f], &content(FILES[*f], lines));
                    watched(&mut client, &path, if existed { 2 } else { 1 });
                }
                EditorOp::Disk(Op::Delete(f)) => {
                    let path = root.join(FILES[*f]);
                    if path.exists() {
                        std::fs::remove_file(&path).expect("delete");
                        watched(&mut client, &path, 3);
                    }
                }
                EditorOp::Disk(Op::Rename(a, b)) => {
                    let (from, to) = (root.join(FILES[*a]), root.join(FILES[*b]));
                    if from.exists() && a != b {
                        std::fs::create_dir_all(to.parent().expect("folder")).expect("folder");
                        std::fs::rename(&from, &to).expect("rename");
                        client.notify("workspace/didRenameFiles", json!({ "files": [{ "oldUri": file_uri(&from), "newUri": file_uri(&to) }] }));
                    }
                }
                EditorOp::Open(f) => {
                    let path = root.join(FILES[*f]);
                    if is_source(FILES[*f]) && !open.contains_key(f) && let Ok(text) = std::fs::read_to_string(&path) {
                        client.open(&path, &text);
                        open.insert(*f, (text, 1));
                    }
                }
                EditorOp::Edit(f, lines) => {
                    if let Some((text, version)) = open.get_mut(f) {
                        *version += 1;
                        let path = root.join(FILES[*f]);
                        if lines.len() % 2 == 0 {
                            *text = content(FILES[*f], lines);
                            client.change(&path, *version, json!([{ "text": text.clone() }]));
                        } else {
                            let line = format!("{}\n", LINES[lines[0] % LINES.len()]);
                            text.insert_str(0, &line);
                            let at = json!({ "line": 0, "character": 0 });
                            client.change(&path, *version, json!([{ "range": { "start": at, "end": at }, "text": line }]));
                        }
                    }
                }
                EditorOp::Save(f) => {
                    if let Some((text, _)) = open.get(f) {
                        let path = root.join(FILES[*f]);
                        write(&root, FILES[*f], text);
                        client.notify("textDocument/didSave", json!({ "textDocument": { "uri": file_uri(&path) } }));
                        watched(&mut client, &path, 2);
                    }
                }
                EditorOp::Close(f) => {
                    if open.remove(f).is_some() {
                        client.notify("textDocument/didClose", json!({ "textDocument": { "uri": file_uri(&root.join(FILES[*f])) } }));
                    }
                }
            }
        }
        // Unsaved buffers are discarded: the final state is the disk.
        let still_open: Vec<usize> = open.keys().copied().collect();
        for f in still_open {
            client.notify("textDocument/didClose", json!({ "textDocument": { "uri": file_uri(&root.join(FILES[f])) } }));
        }
        let incremental = settled(&mut client);
        client.shutdown();

        let mut fresh_client = LspClient::start();
        fresh_client.initialize(&root, watching_client(), None);
        let fresh = settled(&mut fresh_client);
        fresh_client.shutdown();
        prop_assert_eq!(incremental, fresh);
    }
}
