//! Any bytes after a valid `initialize`, into a real server instance: it never panics or hangs,
//! whatever the frames, headers and JSON-RPC messages hold.
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
});

/// A small workspace with a few modules to index, made once.
static ROOT: LazyLock<PathBuf> = LazyLock::new(|| {
    let root = std::env::temp_dir().join("modgraph-fuzz-lsp");
    std::fs::create_dir_all(root.join("src")).expect("workspace");
    std::fs::write(root.join("package.json"), r#"{"name":"w","type":"module"}"#).expect("write");
    std::fs::write(root.join("src/a.mjs"), "import { b } from './b.mjs';\nimport './Missing.mjs';\nexport const a = b;\n").expect("write");
    std::fs::write(root.join("src/b.mjs"), "export const b = 1;\n").expect("write");
    root
});

fn frame(body: &str) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

fuzz_target!(|data: &[u8]| {
    let uri = format!("file://{}", ROOT.display());
    let mut input = frame(&format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"processId":null,"rootUri":"{uri}","capabilities":{{}}}}}}"#
    ));
    input.extend(frame(r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#));
    input.extend_from_slice(data);
    RUNTIME.block_on(modgraph::lsp::serve(std::io::Cursor::new(input), tokio::io::sink()));
});
