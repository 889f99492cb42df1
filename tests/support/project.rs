//! Random projects for property tests: a palette of files and of lines to make them from.

#![allow(dead_code)]

use std::path::Path;

use proptest::prelude::*;

/// Files the generated project may contain.
pub const FILES: &[&str] = &[
    "src/a.mjs",
    "src/b.mjs",
    "src/c.js",
    "src/d.ts",
    "src/lib/e.mjs",
    "src/lib/index.js",
    "src/g.cjs",
    "src/Util.mjs",
    "node_modules/pkg/index.js",
    "node_modules/pkg/package.json",
    "package.json",
    // A dual package (`pkg`: ESM and CommonJS entries) and a second copy of it under `other`.
    "node_modules/pkg/index.mjs",
    "node_modules/other/index.js",
    "node_modules/other/node_modules/pkg/index.js",
    "node_modules/other/node_modules/pkg/package.json",
];

/// Lines a source file is made of.
pub const LINES: &[&str] = &[
    "import { x } from './b.mjs';",
    "import def from './a.mjs';",
    "import './lib/index.js';",
    "import { e } from './lib/e.mjs';",
    "export * from './lib/e.mjs';",
    "import { u } from './util.mjs';",
    "import { u } from './Util.mjs';",
    "import { y } from './d.js';",
    "import pkg from 'pkg';",
    "import missing from 'not-installed';",
    "export const x = 1;",
    "export const e = 2;",
    "export default function f() {}",
    "export const u = 3;",
    "export const y = 4;",
    "const c = require('./c');",
    "const g = require('./g.cjs');",
    "delete require.cache[require.resolve('./c')];",
    "module.exports = { x: 1 };",
    "const p = await import(`./b.mjs?v=${Date.now()}`);",
    "import './b.mjs?v=2';",
    "import {",
    "import './lib';",
    "const lib = require('./lib');",
    "const pkg = require('pkg');",
    "import other from 'other';",
    "const other = require('other');",
    "delete require.cache[key];",
];

/// Cases per property test: `default`, or `MODGRAPH_PROPTEST_CASES` for longer runs by hand.
pub fn cases(default: u32) -> u32 {
    std::env::var("MODGRAPH_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone)]
pub enum Op {
    Write(usize, Vec<usize>),
    Delete(usize),
    Rename(usize, usize),
}

pub fn content(file: &str, lines: &[usize]) -> String {
    match file {
        "package.json" => {
            let kind = if lines.first().is_some_and(|l| l % 2 == 0) {
                "module"
            } else {
                "commonjs"
            };
            format!("{{ \"name\": \"app\", \"type\": \"{kind}\" }}\n")
        }
        "node_modules/pkg/package.json" => {
            let exports = if lines.first().is_some_and(|l| l % 2 == 0) {
                ", \"exports\": { \"import\": \"./index.mjs\", \"require\": \"./index.js\" }"
            } else {
                ""
            };
            format!("{{ \"name\": \"pkg\", \"version\": \"1.0.0\"{exports} }}\n")
        }
        "node_modules/other/node_modules/pkg/package.json" => {
            "{ \"name\": \"pkg\", \"version\": \"2.0.0\" }\n".into()
        }
        _ => {
            lines
                .iter()
                .map(|l| LINES[l % LINES.len()])
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        }
    }
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..FILES.len(), prop::collection::vec(0..LINES.len(), 0..6)).prop_map(|(f, l)| Op::Write(f, l)),
        1 => (0..FILES.len()).prop_map(Op::Delete),
        1 => (0..FILES.len(), 0..FILES.len()).prop_map(|(a, b)| Op::Rename(a, b)),
    ]
}

pub fn write(root: &Path, file: &str, text: &str) {
    let path = root.join(file);
    std::fs::create_dir_all(path.parent().expect("files have a folder")).expect("create folder");
    std::fs::write(path, text).expect("write file");
}
