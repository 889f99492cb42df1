//! The AST walk for what the module record does not hold: `require`, `import()`,
//! `import x = require()` and `delete require.cache[…]`.

use oxc_ast::ast::{
    Argument, BinaryExpression, BlockStatement, CallExpression, ClassBody, Expression,
    ForInStatement, ForOfStatement, FunctionBody, ImportExpression, TSImportEqualsDeclaration,
    TSModuleReference, TryStatement, UnaryExpression,
};
use oxc_ast_visit::{Visit, walk};
use oxc_span::GetSpan;
use oxc_syntax::operator::{BinaryOperator, UnaryOperator};

use super::{CacheDelete, CacheKey, ImportKind, ImportSite, Span, split_url_suffix};

#[derive(Default)]
pub(super) struct SiteCollector {
    /// Sorted start offsets of every `require` in the text and of every `import()`, or `None`
    /// to walk everything. Each site the walk records lies in a node whose text holds one of
    /// them, so a braced block (`{…}`: its whole text lies between the braces) that holds
    /// none is skipped.
    pub anchors: Option<Vec<u32>>,
    pub sites: Vec<ImportSite>,
    pub deletes: Vec<CacheDelete>,
    /// Some loop or `Object.keys` walks over `require.cache`.
    pub iterates_cache: bool,
    try_depth: u32,
    /// Inside a function whose parameter is named `require` (bundler wrappers such as
    /// browserify's `function(require, module, exports)`): that `require` is not Node's.
    shadowed_require: u32,
    /// Start offsets of `import()` expressions that have a `.catch()` attached.
    caught_imports: Vec<u32>,
}

fn span(s: oxc_span::Span) -> Span {
    Span::new(s.start, s.end)
}

/// The static string value of `'s'` or `` `s` `` (no substitutions).
fn static_string<'a>(expr: &'a Expression<'a>) -> Option<&'a str> {
    match expr.without_parentheses() {
        Expression::StringLiteral(s) => Some(s.value.as_str()),
        Expression::TemplateLiteral(t) if t.expressions.is_empty() => t
            .quasis
            .first()
            .and_then(|q| q.value.cooked.as_ref())
            .map(|c| c.as_str()),
        _ => None,
    }
}

fn first_argument<'a>(call: &'a CallExpression<'a>) -> Option<&'a Expression<'a>> {
    match call.arguments.first()? {
        Argument::SpreadElement(_) => None,
        arg => Some(arg.to_expression()),
    }
}

fn is_require_cache(expr: &Expression) -> bool {
    expr.without_parentheses()
        .is_specific_member_access("require", "cache")
}

/// `Object.keys(require.cache)` and friends.
fn lists_require_cache(expr: &Expression) -> bool {
    match expr.without_parentheses() {
        Expression::CallExpression(call) => {
            let callee = call.callee.without_parentheses();
            (callee.is_specific_member_access("Object", "keys")
                || callee.is_specific_member_access("Object", "entries")
                || callee.is_specific_member_access("Object", "getOwnPropertyNames")
                || callee.is_specific_member_access("Reflect", "ownKeys"))
                && first_argument(call).is_some_and(is_require_cache)
        }
        other => is_require_cache(other),
    }
}

/// Leftmost string of a `'a' + b + …` chain.
fn leftmost_string<'a>(binary: &'a BinaryExpression<'a>) -> Option<&'a str> {
    if binary.operator != BinaryOperator::Addition {
        return None;
    }
    match binary.left.without_parentheses() {
        Expression::BinaryExpression(inner) => leftmost_string(inner),
        other => static_string(other),
    }
}

/// The static part of a specifier that carries a run-time query/hash, if the dynamic part
/// starts inside the query/hash: `` `./x.mjs?v=${n}` `` → `./x.mjs`.
fn busted_specifier<'a>(expr: &'a Expression<'a>) -> Option<&'a str> {
    let prefix = match expr.without_parentheses() {
        Expression::TemplateLiteral(t) if !t.expressions.is_empty() => {
            t.quasis.first()?.value.cooked.as_ref()?.as_str()
        }
        Expression::BinaryExpression(b) => leftmost_string(b)?,
        _ => return None,
    };
    let (path, suffix) = split_url_suffix(prefix);
    suffix.map(|_| path).filter(|p| !p.is_empty())
}

/// A cache key built from `__dirname` and a relative path. `require.cache` keys are exact file
/// names, so without an extension the key matches no entry: treat it as unknown.
fn path_key(relative: &str) -> CacheKey {
    let last = relative.rsplit('/').next().unwrap_or_default();
    if last.contains('.') && !last.starts_with('.') {
        CacheKey::Specifier {
            specifier: format!("./{relative}"),
        }
    } else {
        CacheKey::Unknown
    }
}

impl SiteCollector {
    /// Whether the walk must enter a braced block spanning `span`.
    fn enters(&self, span: oxc_span::Span) -> bool {
        self.anchors.as_ref().is_none_or(|anchors| {
            let first = anchors.partition_point(|&a| a < span.start);
            anchors.get(first).is_some_and(|&a| a < span.end)
        })
    }

    fn push(&mut self, kind: ImportKind, specifier: &str, at: oxc_span::Span, type_only: bool) {
        let (specifier, url_suffix) = if kind.uses_import_conditions() {
            split_url_suffix(specifier)
        } else {
            (specifier, None)
        };
        if self.shadowed_require > 0 && !kind.uses_import_conditions() {
            return;
        }
        self.sites.push(ImportSite {
            kind,
            specifier: specifier.to_string(),
            url_suffix: url_suffix.map(str::to_string),
            span: span(at),
            type_only,
            names: Vec::new(),
            cache_busting: false,
            guarded: self.try_depth > 0,
        });
    }

    fn cache_key(expr: &Expression) -> CacheKey {
        let expr = expr.without_parentheses();
        match expr {
            Expression::CallExpression(call) => {
                let callee = call.callee.without_parentheses();
                if callee.is_specific_member_access("require", "resolve")
                    && let Some(s) = first_argument(call).and_then(static_string)
                {
                    return CacheKey::Specifier {
                        specifier: s.to_string(),
                    };
                }
                let joins = callee.is_specific_member_access("path", "join")
                    || callee.is_specific_member_access("path", "resolve")
                    || callee.is_specific_id("join")
                    || callee.is_specific_id("resolve");
                if joins && first_argument(call).is_some_and(|a| a.is_specific_id("__dirname")) {
                    let parts: Option<Vec<&str>> = call
                        .arguments
                        .iter()
                        .skip(1)
                        .map(|a| match a {
                            Argument::SpreadElement(_) => None,
                            a => static_string(a.to_expression()),
                        })
                        .collect();
                    if let Some(parts) = parts.filter(|p| !p.is_empty()) {
                        return path_key(&parts.join("/"));
                    }
                }
                CacheKey::Unknown
            }
            Expression::BinaryExpression(b) if b.operator == BinaryOperator::Addition => {
                if b.left.is_specific_id("__dirname")
                    && let Some(rest) = static_string(&b.right).and_then(|r| r.strip_prefix('/'))
                {
                    return path_key(rest);
                }
                CacheKey::Unknown
            }
            _ => CacheKey::Unknown,
        }
    }
}

fn binds_require(params: &oxc_ast::ast::FormalParameters) -> bool {
    params.items.iter().any(|p| binds(&p.pattern, "require"))
        || params
            .rest
            .as_ref()
            .is_some_and(|r| binds(&r.rest.argument, "require"))
}

/// Whether `pattern` binds `name`. Walks the pattern rather than collecting its names: this
/// runs for the parameters of every function visited.
fn binds(pattern: &oxc_ast::ast::BindingPattern, name: &str) -> bool {
    use oxc_ast::ast::BindingPattern;
    match pattern {
        BindingPattern::BindingIdentifier(id) => id.name == name,
        BindingPattern::AssignmentPattern(assign) => binds(&assign.left, name),
        BindingPattern::ArrayPattern(array) => {
            array.elements.iter().flatten().any(|e| binds(e, name))
                || array
                    .rest
                    .as_ref()
                    .is_some_and(|r| binds(&r.argument, name))
        }
        BindingPattern::ObjectPattern(object) => {
            object.properties.iter().any(|p| binds(&p.value, name))
                || object
                    .rest
                    .as_ref()
                    .is_some_and(|r| binds(&r.argument, name))
        }
    }
}

impl<'a> Visit<'a> for SiteCollector {
    fn visit_function_body(&mut self, it: &FunctionBody<'a>) {
        if self.enters(it.span) {
            walk::walk_function_body(self, it);
        }
    }

    fn visit_block_statement(&mut self, it: &BlockStatement<'a>) {
        if self.enters(it.span) {
            walk::walk_block_statement(self, it);
        }
    }

    fn visit_class_body(&mut self, it: &ClassBody<'a>) {
        if self.enters(it.span) {
            walk::walk_class_body(self, it);
        }
    }

    fn visit_function(
        &mut self,
        it: &oxc_ast::ast::Function<'a>,
        flags: oxc_syntax::scope::ScopeFlags,
    ) {
        let shadows =
            binds_require(&it.params) || it.id.as_ref().is_some_and(|id| id.name == "require");
        self.shadowed_require += u32::from(shadows);
        walk::walk_function(self, it, flags);
        self.shadowed_require -= u32::from(shadows);
    }

    fn visit_arrow_function_expression(&mut self, it: &oxc_ast::ast::ArrowFunctionExpression<'a>) {
        let shadows = binds_require(&it.params);
        self.shadowed_require += u32::from(shadows);
        walk::walk_arrow_function_expression(self, it);
        self.shadowed_require -= u32::from(shadows);
    }

    fn visit_try_statement(&mut self, it: &TryStatement<'a>) {
        self.try_depth += 1;
        self.visit_block_statement(&it.block);
        self.try_depth -= 1;
        if let Some(handler) = &it.handler {
            self.visit_catch_clause(handler);
        }
        if let Some(finalizer) = &it.finalizer {
            self.visit_block_statement(finalizer);
        }
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        let callee = it.callee.without_parentheses();
        if callee.is_specific_id("require") && it.arguments.len() == 1 {
            if let Some(s) = first_argument(it).and_then(static_string) {
                self.push(ImportKind::Require, s, it.arguments[0].span(), false);
            }
        } else if callee.is_specific_member_access("require", "resolve") && !it.arguments.is_empty()
        {
            if let Some(s) = first_argument(it).and_then(static_string) {
                self.push(ImportKind::RequireResolve, s, it.arguments[0].span(), false);
            }
        } else if let Expression::StaticMemberExpression(member) = callee {
            let handles_rejection = member.property.name == "catch"
                || (member.property.name == "then" && it.arguments.len() >= 2);
            if handles_rejection
                && let Expression::ImportExpression(import) = member.object.without_parentheses()
            {
                self.caught_imports.push(import.span.start);
            }
            if member.property.name == "forEach" && lists_require_cache(&member.object) {
                self.iterates_cache = true;
            }
        }
        walk::walk_call_expression(self, it);
    }

    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        let caught = self.caught_imports.contains(&it.span.start);
        if let Some(s) = static_string(&it.source) {
            self.push(ImportKind::Dynamic, s, it.source.span(), false);
        } else if let Some(path) = busted_specifier(&it.source) {
            self.push(ImportKind::Dynamic, path, it.source.span(), false);
            if let Some(site) = self.sites.last_mut() {
                site.cache_busting = true;
            }
        }
        if caught
            && let Some(site) = self
                .sites
                .last_mut()
                .filter(|s| s.span.start >= it.span.start)
        {
            site.guarded = true;
        }
        walk::walk_import_expression(self, it);
    }

    fn visit_ts_import_equals_declaration(&mut self, it: &TSImportEqualsDeclaration<'a>) {
        if let TSModuleReference::ExternalModuleReference(ext) = &it.module_reference {
            let type_only = it.import_kind.is_type();
            self.push(
                ImportKind::TsImportEquals,
                ext.expression.value.as_str(),
                ext.expression.span,
                type_only,
            );
        }
        walk::walk_ts_import_equals_declaration(self, it);
    }

    fn visit_unary_expression(&mut self, it: &UnaryExpression<'a>) {
        if it.operator == UnaryOperator::Delete
            && let Expression::ComputedMemberExpression(member) = it.argument.without_parentheses()
            && is_require_cache(&member.object)
        {
            let key = Self::cache_key(&member.expression);
            let key_span = member.expression.span();
            // Path-built keys get a site of their own so the graph resolves them;
            // `require.resolve('s')` keys get theirs from the call.
            let resolves_itself = matches!(member.expression.without_parentheses(),
                        Expression::CallExpression(call) if call.callee.is_specific_member_access("require", "resolve"));
            if let (CacheKey::Specifier { specifier }, false) = (&key, resolves_itself) {
                self.push(
                    ImportKind::RequireResolve,
                    &specifier.clone(),
                    key_span,
                    false,
                );
            }
            self.deletes.push(CacheDelete {
                key,
                span: span(it.span),
                key_span: span(key_span),
            });
        }
        walk::walk_unary_expression(self, it);
    }

    fn visit_for_in_statement(&mut self, it: &ForInStatement<'a>) {
        if lists_require_cache(&it.right) {
            self.iterates_cache = true;
        }
        walk::walk_for_in_statement(self, it);
    }

    fn visit_for_of_statement(&mut self, it: &ForOfStatement<'a>) {
        if lists_require_cache(&it.right) {
            self.iterates_cache = true;
        }
        walk::walk_for_of_statement(self, it);
    }
}
