//! Plain data extracted from one module's source text. Owned, `Send + Sync`, no AST references.

use serde::Serialize;

/// A half-open byte range `[start, end)` in a module's source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub const fn new(start: u32, end: u32) -> Self {
        Self { start, end }
    }
}

/// How an import site loads its target. This decides the resolution conditions
/// (`import` vs `require`) and whether the site is part of the runtime graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportKind {
    /// `import … from 's'`, `import 's'`
    Static,
    /// `export … from 's'`, `export * from 's'`
    ReExport,
    /// `import('s')` or `import(`s…${x}`)` with a static prefix
    Dynamic,
    /// `require('s')`
    Require,
    /// `require.resolve('s')`: resolved, never loaded.
    RequireResolve,
    /// TS `import x = require('s')`
    TsImportEquals,
}

impl ImportKind {
    /// Whether Node resolves this site with the `import` conditions.
    pub const fn uses_import_conditions(self) -> bool {
        matches!(self, Self::Static | Self::ReExport | Self::Dynamic)
    }

    /// Whether evaluating the importer loads the target (as opposed to only resolving it).
    pub const fn loads_target(self) -> bool {
        !matches!(self, Self::RequireResolve)
    }
}

/// One name an import site takes from its target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportedName {
    /// The exported name asked for; `default` for default imports.
    pub name: String,
    pub span: Span,
    pub type_only: bool,
}

/// One place in a module that loads (or resolves) another module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportSite {
    pub kind: ImportKind,
    /// The specifier as written, without query or hash.
    pub specifier: String,
    /// Static `?query` / `#hash` part of the specifier (part of an ES module's identity).
    pub url_suffix: Option<String>,
    /// Span of the specifier expression, quotes included.
    pub span: Span,
    /// `import type` / `export type`: never evaluated at run time.
    pub type_only: bool,
    /// Named imports; empty for side-effect, namespace, `require` and dynamic imports.
    pub names: Vec<ImportedName>,
    /// The specifier carries a query or hash computed at run time (`?v=${Date.now()}`).
    pub cache_busting: bool,
    /// Inside a `try` block or followed by `.catch()`: a failure is expected and handled.
    pub guarded: bool,
}

impl ImportSite {
    /// Part of the graph that Node actually evaluates.
    pub fn is_runtime(&self) -> bool {
        !self.type_only && self.kind.loads_target()
    }
}

/// A name this module exports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedName {
    pub name: String,
    pub span: Span,
    pub type_only: bool,
}

/// What the module exports, as far as the source tells.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ExportFacts {
    /// Local and `export { a } from` names, plus `default`.
    pub names: Vec<ExportedName>,
    /// Indexes into [`ModuleFacts::imports`] of `export * from` sites.
    pub star_sites: Vec<u32>,
    /// The export list cannot be known from syntax (CommonJS, `export =`, ambient modules).
    pub unknowable: bool,
}

/// The key of a `delete require.cache[key]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CacheKey {
    /// `require.resolve('s')`, `path.join(__dirname, 's')`, `path.resolve(__dirname, 's')`,
    /// `__dirname + '/s'`: resolved like `require('s')` from this module.
    Specifier { specifier: String },
    /// Anything else (a variable, a computed path): the deleted module is unknown.
    Unknown,
}

/// One `delete require.cache[…]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheDelete {
    pub key: CacheKey,
    /// Span of the whole `delete` expression.
    pub span: Span,
    /// Span of the key expression inside the brackets.
    pub key_span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParseOutcome {
    Parsed,
    /// Not parsed: the text holds no `import`, `export` or `require` word, so a parse would find
    /// no import site, no ES syntax and no cache delete (keywords cannot be spelt with escapes).
    /// The facts are those a parse gives; only a syntax error would go unseen, and a module
    /// with no sites or ES exports gives no diagnostic either way.
    Scanned,
    /// Syntax errors or a parser panic: facts are empty and must not produce diagnostics.
    Failed,
}

/// Everything the graph and the rules need from one module's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleFacts {
    pub outcome: ParseOutcome,
    /// `import`/`export` syntax present (decides the format of ambiguous `.js`/`.ts` files).
    pub has_module_syntax: bool,
    /// ES syntax and `module.exports` / `exports.x` side by side: CommonJS exports in a module
    /// that looks like an ES one. Not searched for without ES syntax, where it decides nothing.
    pub mixes_cjs_exports: bool,
    /// Sites in source order.
    pub imports: Vec<ImportSite>,
    pub exports: ExportFacts,
    pub cache_deletes: Vec<CacheDelete>,
    /// The whole `require.cache` is cleared (a loop over its keys).
    pub clears_whole_cache: bool,
}

impl ModuleFacts {
    /// Facts of a module that could not be read or parsed: no sites, exports unknowable.
    pub fn unparsed() -> Self {
        Self {
            outcome: ParseOutcome::Failed,
            has_module_syntax: false,
            mixes_cjs_exports: false,
            imports: Vec::new(),
            exports: ExportFacts {
                unknowable: true,
                ..ExportFacts::default()
            },
            cache_deletes: Vec::new(),
            clears_whole_cache: false,
        }
    }

    /// Facts of a text found, without a parse, to hold no `import`, `export` or `require`:
    /// those a parse gives (see [`ParseOutcome::Scanned`]).
    pub fn scanned() -> Self {
        Self {
            outcome: ParseOutcome::Scanned,
            ..Self::unparsed()
        }
    }

    /// The facts say all that the text holds (parsed, or scanned and found to hold nothing a
    /// parse would report).
    pub fn complete(&self) -> bool {
        self.outcome != ParseOutcome::Failed
    }
}
