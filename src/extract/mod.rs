//! Source text → [`ModuleFacts`]. Pure: no IO, no resolution. The path is used only for its
//! extension (which decides JS/TS/JSX/declaration parsing).

mod facts;
mod visitor;

pub use facts::*;

use std::path::Path;
use std::sync::LazyLock;

use memchr::memmem::Finder;
use oxc_allocator::Allocator;
use oxc_ast::ast::Statement;
use oxc_parser::{ParseOptions, Parser};
use oxc_span::SourceType;
use rustc_hash::FxHashMap;

/// Parses `text` as the module at `path` and copies out the facts. Never panics on any input:
/// unparsable text (syntax errors, Flow, parser panics, unknown extensions) gives
/// [`ModuleFacts::unparsed`].
pub fn extract(path: &Path, text: &str, allocator: &mut Allocator) -> ModuleFacts {
    extract_with(path, text, allocator, Walk::Anchored)
}

/// How modules are parsed. A top-level `return` is legal in CommonJS. Identifier hashes serve
/// only semantic analysis, which never runs here: without them parsing takes about 5% less.
fn parse_options() -> ParseOptions {
    ParseOptions {
        allow_return_outside_function: true,
        enable_ident_hashes: false,
        ..ParseOptions::default()
    }
}

/// How much of the AST the walk for `require` and `import()` visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// No parse when the text cannot hold a site or ES syntax ([`ParseOutcome::Scanned`]);
    /// otherwise only the blocks whose text holds `require` or an `import()` (the same sites).
    Anchored,
    /// Every text parsed and every node visited: the reference the anchored walk is tested
    /// against.
    #[cfg_attr(not(test), allow(dead_code))]
    Whole,
}

fn extract_with(path: &Path, text: &str, allocator: &mut Allocator, walk: Walk) -> ModuleFacts {
    allocator.reset();
    let Ok(source_type) = SourceType::from_path(path) else {
        return ModuleFacts::unparsed();
    };
    // JSX is legal in `.js` files in practice (React projects); TS files keep their own rule.
    let source_type = if source_type.is_javascript() {
        source_type.with_jsx(true)
    } else {
        source_type
    };
    if text.len() >= u32::MAX as usize {
        return ModuleFacts::unparsed();
    }
    let requires = require_anchors(text);
    if walk == Walk::Anchored && requires.is_empty() && !has_keyword(text) {
        return ModuleFacts::scanned();
    }
    let ret = Parser::new(allocator, text, source_type)
        .with_options(parse_options())
        .parse();
    if ret.panicked || !ret.diagnostics.is_empty() {
        return ModuleFacts::unparsed();
    }
    let record = &ret.module_record;

    let mut imports: Vec<ImportSite> = Vec::new();
    for (specifier, requests) in &record.requested_modules {
        for request in requests {
            let (specifier, url_suffix) = split_url_suffix(specifier.as_str());
            imports.push(ImportSite {
                kind: if request.is_import {
                    ImportKind::Static
                } else {
                    ImportKind::ReExport
                },
                specifier: specifier.to_string(),
                url_suffix: url_suffix.map(str::to_string),
                span: span(request.span),
                type_only: request.is_type,
                names: Vec::new(),
                cache_busting: false,
                guarded: false,
            });
        }
    }

    // Names asked of each static site, keyed by the specifier's span start.
    let mut names_by_site: FxHashMap<u32, Vec<ImportedName>> = FxHashMap::default();
    for entry in &record.import_entries {
        use oxc_syntax::module_record::ImportImportName;
        let name = match &entry.import_name {
            ImportImportName::Name(n) => ImportedName {
                name: n.name.to_string(),
                span: span(n.span),
                type_only: entry.is_type,
            },
            ImportImportName::Default(s) => ImportedName {
                name: "default".into(),
                span: span(*s),
                type_only: entry.is_type,
            },
            ImportImportName::NamespaceObject => continue,
        };
        names_by_site
            .entry(entry.module_request.span.start)
            .or_default()
            .push(name);
    }

    let mut exports = ExportFacts::default();
    let mut star_specifier_spans: Vec<u32> = Vec::new();
    {
        use oxc_syntax::module_record::{ExportExportName, ExportImportName};
        let entries = record
            .local_export_entries
            .iter()
            .chain(record.indirect_export_entries.iter())
            .chain(record.star_export_entries.iter());
        for entry in entries {
            match &entry.export_name {
                ExportExportName::Name(n) => exports.names.push(ExportedName {
                    name: n.name.to_string(),
                    span: span(n.span),
                    type_only: entry.is_type,
                }),
                ExportExportName::Default(s) => exports.names.push(ExportedName {
                    name: "default".into(),
                    span: span(*s),
                    type_only: entry.is_type,
                }),
                ExportExportName::Null => {}
            }
            // `import a from './x'; export { a }` yields an indirect entry that points at the
            // import's specifier: only `export … from` entries (specifier inside the export
            // statement) say what their own site imports.
            // oxc gives such entries the import's statement span but the export's own span.
            let from_this_statement = entry.module_request.as_ref().filter(|_| {
                entry.span.start >= entry.statement_span.start
                    && entry.span.end <= entry.statement_span.end
            });
            if let Some(request) = from_this_statement {
                match &entry.import_name {
                    ExportImportName::Name(n) => {
                        names_by_site
                            .entry(request.span.start)
                            .or_default()
                            .push(ImportedName {
                                name: n.name.to_string(),
                                span: span(n.span),
                                type_only: entry.is_type,
                            });
                    }
                    ExportImportName::AllButDefault
                        if entry.export_name.is_null() && !entry.is_type =>
                    {
                        star_specifier_spans.push(request.span.start);
                    }
                    _ => {}
                }
            }
        }
    }

    for statement in &ret.program.body {
        match statement {
            // `export = x`, `export as namespace X`, `declare module 'm' {}`, `declare global {}`:
            // the module's shape is not a plain ES export list.
            Statement::TSExportAssignment(_) | Statement::TSNamespaceExportDeclaration(_) => {
                exports.unknowable = true;
            }
            Statement::TSExternalModuleDeclaration(_) | Statement::TSGlobalDeclaration(_) => {
                exports.unknowable = true;
            }
            _ => {}
        }
    }

    let mut found = visitor::SiteCollector::default();
    let needs_walk = !record.dynamic_imports.is_empty() || !requires.is_empty();
    if needs_walk {
        if walk == Walk::Anchored {
            let mut anchors = requires;
            anchors.extend(record.dynamic_imports.iter().map(|d| d.span.start));
            anchors.sort_unstable();
            found.anchors = Some(anchors);
        }
        oxc_ast_visit::Visit::visit_program(&mut found, &ret.program);
        imports.append(&mut found.sites);
    }

    imports.sort_by_key(|site| site.span.start);
    for site in &mut imports {
        if let Some(names) = names_by_site.remove(&site.span.start) {
            site.names = names;
        }
    }
    exports.star_sites = imports
        .iter()
        .enumerate()
        .filter(|(_, site)| {
            site.kind == ImportKind::ReExport && star_specifier_spans.contains(&site.span.start)
        })
        .map(|(i, _)| i as u32)
        .collect();

    let mixes_cjs_exports = record.has_module_syntax && mentions_cjs_exports(text);
    if mixes_cjs_exports || !record.has_module_syntax {
        exports.unknowable = true;
    }

    ModuleFacts {
        outcome: ParseOutcome::Parsed,
        has_module_syntax: record.has_module_syntax,
        mixes_cjs_exports,
        imports,
        exports,
        clears_whole_cache: found.iterates_cache
            && found.deletes.iter().any(|d| d.key == CacheKey::Unknown),
        cache_deletes: found.deletes,
    }
}

// The searches every text goes through, built once: building a searcher costs about as much
// as searching a small file.
static IMPORT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("import"));
static EXPORT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("export"));
static EXPORTS: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("exports"));
static REQUIRE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("require"));
static ESCAPE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("\\u"));

/// `import` or `export` appears where it may be the keyword: not followed by a name byte, as
/// it is in `exports` or `important`. Whatever else follows (a space, `{`, `*`, `(`, `.`, a
/// non-ASCII space) counts.
fn has_keyword(text: &str) -> bool {
    let bytes = text.as_bytes();
    [&*IMPORT, &*EXPORT].iter().any(|keyword| {
        keyword
            .find_iter(bytes)
            .any(|i| !is_name_byte(bytes.get(i + keyword.needle().len())))
    })
}

/// Offsets where Node's `require` may be named: the word `require` (not part of a longer ASCII
/// name) and `\u` escapes that may spell one of its letters. Sorted.
fn require_anchors(text: &str) -> Vec<u32> {
    let mut anchors: Vec<u32> = require_words(text).collect();
    anchors.extend(require_escapes(text));
    anchors.sort_unstable();
    anchors
}

/// An ASCII byte that continues a name. Non-ASCII bytes do not count: they may be spaces.
fn is_name_byte(b: Option<&u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$'))
}

/// `module.exports`, `exports.x` or `exports[…]` appears in the text (one SIMD pass).
fn mentions_cjs_exports(text: &str) -> bool {
    let bytes = text.as_bytes();
    EXPORTS
        .find_iter(bytes)
        .any(|i| matches!(bytes.get(i + 7), Some(b'.' | b'[')) || bytes[..i].ends_with(b"module."))
}

/// Offsets of the word `require` in `text`: not part of a longer ASCII name
/// (`__webpack_require__` is not Node's `require`, and bundles write it in every function).
fn require_words(text: &str) -> impl Iterator<Item = u32> {
    let bytes = text.as_bytes();
    REQUIRE
        .find_iter(bytes)
        .filter(|&i| {
            !is_name_byte(i.checked_sub(1).and_then(|j| bytes.get(j)))
                && !is_name_byte(bytes.get(i + 7))
        })
        .map(|i| i as u32)
}

/// Offsets of `\u` escapes that may spell a letter of `require` (`\u0072equire` names
/// `require` too). Unreadable escapes count as such letters.
fn require_escapes(text: &str) -> impl Iterator<Item = u32> {
    let bytes = text.as_bytes();
    ESCAPE
        .find_iter(bytes)
        .filter(|&i| {
            let rest = &text[i + 2..];
            let digits = match rest.strip_prefix('{') {
                Some(braced) => braced.split('}').next().unwrap_or_default(),
                None => rest.get(..4).unwrap_or_default(),
            };
            u32::from_str_radix(digits, 16)
                .ok()
                .and_then(char::from_u32)
                .is_none_or(|c| "requi".contains(c))
        })
        .map(|i| i as u32)
}

/// Splits a static `?query` / `#hash` off an ES specifier. A leading `#` is a package
/// `imports` alias, not a hash.
pub fn split_url_suffix(specifier: &str) -> (&str, Option<&str>) {
    let cut = specifier
        .char_indices()
        .find(|&(i, c)| c == '?' || (c == '#' && i > 0))
        .map(|(i, _)| i);
    match cut {
        Some(i) => (&specifier[..i], Some(&specifier[i..])),
        None => (specifier, None),
    }
}

fn span(s: oxc_span::Span) -> Span {
    Span::new(s.start, s.end)
}

#[cfg(test)]
mod tests;

/// The first syntax error in `text` as the parser sees it: byte offset and message. `None`
/// when the text parses (or the file is not JavaScript or TypeScript).
pub fn first_syntax_error(path: &Path, text: &str) -> Option<(u32, String)> {
    let source_type = SourceType::from_path(path).ok()?;
    let source_type = if source_type.is_javascript() {
        source_type.with_jsx(true)
    } else {
        source_type
    };
    if text.len() >= u32::MAX as usize {
        return None;
    }
    let allocator = Allocator::default();
    let ret = Parser::new(&allocator, text, source_type)
        .with_options(parse_options())
        .parse();
    let diagnostic = ret.diagnostics.first()?;
    let offset = diagnostic
        .labels
        .first()
        .map(|label| label.offset())
        .unwrap_or(0);
    Some((offset, diagnostic.message.to_string()))
}
