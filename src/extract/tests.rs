use std::path::Path;

use oxc_allocator::Allocator;

use super::*;

fn facts(name: &str, text: &str) -> ModuleFacts {
    extract(Path::new(name), text, &mut Allocator::default())
}

fn export_names(f: &ModuleFacts) -> Vec<&str> {
    let mut names: Vec<&str> = f.exports.names.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    names
}

#[test]
fn default_function_export_is_default() {
    let f = facts(
        "a.mjs",
        "'use client';\nimport * as React from 'react';\nexport default function useTheme() { return 1 }\n",
    );
    assert_eq!(export_names(&f), ["default"]);
    assert!(!f.exports.unknowable);
}

#[test]
fn static_sites_carry_names_spans_and_kinds() {
    let text = "import a, { b as c, type D } from './x.js';\nexport { e } from './y.js';\nexport * from './z.js';\nimport type T from './t.js';\n";
    let f = facts("m.ts", text);
    let kinds: Vec<(ImportKind, &str, bool)> = f
        .imports
        .iter()
        .map(|s| (s.kind, s.specifier.as_str(), s.type_only))
        .collect();
    assert_eq!(
        kinds,
        [
            (ImportKind::Static, "./x.js", false),
            (ImportKind::ReExport, "./y.js", false),
            (ImportKind::ReExport, "./z.js", false),
            (ImportKind::Static, "./t.js", true),
        ]
    );
    // Specifier spans include the quotes.
    let first = &f.imports[0];
    assert_eq!(
        &text[first.span.start as usize..first.span.end as usize],
        "'./x.js'"
    );
    let names: Vec<(&str, bool)> = first
        .names
        .iter()
        .map(|n| (n.name.as_str(), n.type_only))
        .collect();
    assert_eq!(names, [("default", false), ("b", false), ("D", true)]);
    assert_eq!(
        &text[first.names[1].span.start as usize..first.names[1].span.end as usize],
        "b"
    );
    assert_eq!(f.exports.star_sites, [2]);
    assert_eq!(export_names(&f), ["e"]);
}

#[test]
fn require_dynamic_import_and_import_equals() {
    let text = "const a = require('./a');\nconst r = require.resolve('./r');\nimport('./d.mjs');\nimport x = require('./eq');\ntry { require('opt') } catch {}\nimport('./c.mjs').catch(() => {});\nrequire(name);\n";
    let f = facts("m.ts", text);
    let sites: Vec<(ImportKind, &str, bool)> = f
        .imports
        .iter()
        .map(|s| (s.kind, s.specifier.as_str(), s.guarded))
        .collect();
    assert_eq!(
        sites,
        [
            (ImportKind::Require, "./a", false),
            (ImportKind::RequireResolve, "./r", false),
            (ImportKind::Dynamic, "./d.mjs", false),
            (ImportKind::TsImportEquals, "./eq", false),
            (ImportKind::Require, "opt", true),
            (ImportKind::Dynamic, "./c.mjs", true),
        ]
    );
}

#[test]
fn cache_busting_queries_are_recognised() {
    let f = facts(
        "m.mjs",
        "import(`./p.mjs?v=${Date.now()}`);\nimport('./q.mjs?t=' + Date.now());\nimport(`./${name}.mjs`);\nimport('./s.mjs?v=1');\n",
    );
    let sites: Vec<(&str, bool, Option<&str>)> = f
        .imports
        .iter()
        .map(|s| {
            (
                s.specifier.as_str(),
                s.cache_busting,
                s.url_suffix.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        sites,
        [
            ("./p.mjs", true, None),
            ("./q.mjs", true, None),
            ("./s.mjs", false, Some("?v=1"))
        ]
    );
}

#[test]
fn cache_deletes_and_whole_cache_clears() {
    let text = "delete require.cache[require.resolve('./a')];\ndelete require.cache[path.join(__dirname, 'b.js')];\ndelete require.cache[path.join(__dirname, 'noext')];\n";
    let f = facts("m.cjs", text);
    let keys: Vec<&CacheKey> = f.cache_deletes.iter().map(|d| &d.key).collect();
    assert_eq!(
        keys,
        [
            &CacheKey::Specifier {
                specifier: "./a".into()
            },
            &CacheKey::Specifier {
                specifier: "./b.js".into()
            },
            &CacheKey::Unknown,
        ]
    );
    assert!(!f.clears_whole_cache);
    let all = facts(
        "m.cjs",
        "Object.keys(require.cache).forEach(k => { delete require.cache[k] });\n",
    );
    assert!(all.clears_whole_cache);
    let loop_all = facts(
        "m.cjs",
        "for (const k in require.cache) delete require.cache[k];\n",
    );
    assert!(loop_all.clears_whole_cache);
}

#[test]
fn commonjs_and_ambient_exports_are_unknowable() {
    assert!(
        facts("m.js", "module.exports = { a: 1 };\n")
            .exports
            .unknowable
    );
    assert!(
        facts("m.d.ts", "declare module 'x' { export const a: number }\n")
            .exports
            .unknowable
    );
    assert!(
        facts("m.ts", "const a = 1;\nexport = a;\n")
            .exports
            .unknowable
    );
    assert!(!facts("m.mjs", "export const a = 1;\n").exports.unknowable);
}

#[test]
fn bad_input_yields_unparsed_facts() {
    for (name, text) in [
        (
            "flow.js",
            "// @flow\nconst t = require('./t');\nfunction f(x: ?number): %checks { return x }\n",
        ),
        ("broken.mjs", "import { from './x.mjs'\n"),
        ("panic.d.cts", "export = function f(): T;\n"),
        ("unknown.txt", "hello"),
    ] {
        let f = facts(name, text);
        assert!(!f.complete(), "{name} should not parse");
        assert!(f.imports.is_empty() && f.exports.unknowable, "{name}");
    }
    // Without `import`, `export` or `require` the text is not parsed, and its facts are those
    // of a module with nothing to report, as the parse would have found too.
    let f = facts(
        "flow.js",
        "// @flow\nfunction f(x: ?number): %checks { return x }\n",
    );
    assert_eq!(f.outcome, ParseOutcome::Scanned);
    assert!(f.imports.is_empty() && f.exports.unknowable && !f.has_module_syntax);
}

#[test]
fn package_import_alias_keeps_its_hash() {
    assert_eq!(split_url_suffix("#internal/x"), ("#internal/x", None));
    assert_eq!(split_url_suffix("./a.mjs#frag"), ("./a.mjs", Some("#frag")));
}

#[test]
fn reexported_import_binding_does_not_name_the_import_site() {
    let f = facts(
        "m.mjs",
        "import useTheme from './t.mjs';\nexport { useTheme };\n",
    );
    let names: Vec<&str> = f.imports[0].names.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["default"]);
    assert_eq!(export_names(&f), ["useTheme"]);
}

#[test]
fn require_bound_by_a_bundle_wrapper_is_not_nodes() {
    let f = facts(
        "bundle.js",
        "(function(){ var m = [function(require, module, exports) { require('_process'); }]; })();\nrequire('./real');\n",
    );
    let specs: Vec<&str> = f.imports.iter().map(|s| s.specifier.as_str()).collect();
    assert_eq!(specs, ["./real"]);
}

/// A parameter binds `require` however deep in its pattern; a property key named so does not.
#[test]
fn require_bound_inside_a_parameter_pattern_is_not_nodes() {
    let f = facts(
        "patterns.js",
        "function a({ require }) { require('./object'); }\n\
         function b([, require = g]) { require('./array'); }\n\
         const c = ({ x: { require } }) => require('./nested');\n\
         function d(...[require]) { require('./rest'); }\n\
         function e({ require: r }) { require('./renamed'); }\n",
    );
    let specs: Vec<&str> = f.imports.iter().map(|s| s.specifier.as_str()).collect();
    assert_eq!(specs, ["./renamed"]);
}

#[test]
fn anchored_walk_finds_what_the_whole_walk_finds() {
    let cases = [
        (
            "a.js",
            "function f() { if (x) { g(); } }\nclass C { m() { return require('./m'); } }\nfunction h() { try { require('opt') } catch { } }\n",
        ),
        (
            "b.ts",
            "@dec(require('./d')) export class A { @p(require('./p')) x = 1; }\nfunction z() { return 1 }\n",
        ),
        (
            "c.js",
            "const k = () => { return import('./k.mjs').catch(() => {}); };\nfunction n() { const o = { a() { for (const k in require.cache) delete require.cache[k]; } }; }\n",
        ),
        (
            "d.js",
            "function w(require) { require('./shadowed'); }\nfunction v() { \\u0072equire('./escaped'); }\nfunction u() { requ\\u{69}re('./braced'); }\nconst s = \"\\u00e9\";\nrequire('./plain');\n",
        ),
        (
            "f.js",
            "(function(modules) { function __webpack_require__(id) { return modules[id]; } })([function(m, e, __webpack_require__) { __webpack_require__(1); }, function() { const x = $require; return require('./inner'); }]);\n",
        ),
        (
            "e.js",
            "// require is mentioned here only\nfunction a() { b(() => { c(); }); }\nclass D { static { e(); } }\n",
        ),
    ];
    for (name, text) in cases {
        let anchored = extract(Path::new(name), text, &mut Allocator::default());
        let whole = extract_with(
            Path::new(name),
            text,
            &mut Allocator::default(),
            Walk::Whole,
        );
        assert_eq!(anchored.outcome, ParseOutcome::Parsed, "{name} parses");
        assert!(
            name == "e.js" || !whole.imports.is_empty(),
            "{name} has sites"
        );
        assert_eq!(anchored, whole, "{name}");
        if name == "d.js" {
            let specs: Vec<&str> = anchored
                .imports
                .iter()
                .map(|s| s.specifier.as_str())
                .collect();
            assert_eq!(specs, ["./escaped", "./braced", "./plain"]);
        }
    }
}

/// Facts from the reference path: every text parsed, every node visited.
fn parsed_facts(name: &str, text: &str) -> ModuleFacts {
    extract_with(
        Path::new(name),
        text,
        &mut Allocator::default(),
        Walk::Whole,
    )
}

#[test]
fn text_without_import_export_or_require_is_scanned_with_a_parses_facts() {
    let scanned = [
        (
            "table.js",
            "var table = [1, 2, 3];\nvar importantNote = 'x';\n",
        ),
        (
            "cjs.js",
            "var exportsList = [];\nmodule.exports = { a: 1 };\nexports.b = 2;\n",
        ),
        (
            "hot.js",
            "if (module.hot) module.hot.accept();\n__webpack_require__(1);\n",
        ),
        ("m.mjs", "const s = '\\u00e9';\nglobalThis.x = s;\n"),
        ("t.ts", "const n: number = 1;\nconst reexported = n;\n"),
    ];
    for (name, text) in scanned {
        let fast = facts(name, text);
        assert_eq!(fast.outcome, ParseOutcome::Scanned, "{name}");
        let reference = parsed_facts(name, text);
        assert_eq!(reference.outcome, ParseOutcome::Parsed, "{name}");
        assert_eq!(
            ModuleFacts {
                outcome: ParseOutcome::Parsed,
                ..fast
            },
            reference,
            "{name}"
        );
    }
    let parsed = [
        ("nbsp.mjs", "export\u{a0}const a = 1;\n"),
        ("brace.mjs", "export{};\n"),
        ("dynamic.js", "const k = import('./k.mjs');\n"),
        ("meta.mjs", "const u = import.meta.url;\n"),
        ("escaped.js", "\\u0072equire('./e');\n"),
        ("member.js", "const r = module.require;\n"),
    ];
    for (name, text) in parsed {
        assert_eq!(facts(name, text).outcome, ParseOutcome::Parsed, "{name}");
    }
}

/// Statements that parse in any order, with and without the words that make a parse needed.
const STATEMENTS: &[&str] = &[
    "var table = [1, 2];",
    "var importantNote = 'import';",
    "module.exports = { a: 1 };",
    "exports.b = 2;",
    "var exportsList = [];",
    "__webpack_require__(1);",
    "if (module.hot) module.hot.accept();",
    "const s = '\\u00e9';",
    "require('./r');",
    "\\u0072equire('./e');",
    "import('./d.mjs');",
    "const m = import.meta;",
    "export const c = 1;",
    "export { table as t };",
    "import x from './x.mjs';",
    "delete require.cache[require.resolve('./c')];",
    "function f(require) { require('./shadowed'); }",
    "// export default 1",
];

proptest::proptest! {
    /// Skipping the parse never changes the facts of a text that parses.
    #[test]
    fn scanned_facts_equal_parsed_facts(
        picks in proptest::collection::vec(0..STATEMENTS.len(), 0..8),
        name in proptest::sample::select(vec!["a.js", "a.mjs", "a.cjs", "a.ts"]),
    ) {
        let text: String = picks.iter().map(|&i| format!("{}\n", STATEMENTS[i])).collect();
        let reference = parsed_facts(name, &text);
        let fast = facts(name, &text);
        if reference.complete() {
            proptest::prop_assert_eq!(
                ModuleFacts { outcome: reference.outcome, ..fast },
                reference
            );
        }
    }
}
