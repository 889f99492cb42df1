//! `duplicate-module/case-mismatch`: a specifier whose letter case differs from the file.
//!
//! On Linux (case-sensitive) the import throws "Cannot find module". On macOS and Windows it
//! loads, but under a second cache key: the same file becomes two module instances with separate
//! state. The fix rewrites the specifier in the case found on disk.

use super::context::inside_quotes;
use super::{Rule, RuleContext, RuleMeta};
use crate::diagnostic::{Diagnostic, Fix, Severity, TextEdit};
use crate::graph::{FileId, Target};

pub struct CaseMismatch;

static META: RuleMeta = RuleMeta {
    code: "duplicate-module/case-mismatch",
    default_severity: Some(Severity::Error),
    summary: "A specifier whose letter case differs from the file on disk: a crash on Linux, a second instance elsewhere.",
};

impl Rule for CaseMismatch {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> super::Scope {
        super::Scope::Module
    }

    fn check_module(&self, ctx: &RuleContext, id: FileId, out: &mut Vec<Diagnostic>) {
        let Some(module) = ctx.module(id).filter(|m| m.is_evaluated()) else {
            return;
        };
        for edge in &module.edges {
            let Target::CaseMismatch {
                corrected,
                file,
                resolves_anyway,
            } = &edge.target
            else {
                continue;
            };
            let site = module.site(edge);
            if site.type_only {
                continue; // never loaded at run time
            }
            let actual = ctx.display(*file);
            let (severity, message) = if *resolves_anyway {
                (
                    Severity::Warning,
                    format!(
                        "'{}' differs in letter case from {actual}: this file system loads it anyway, but under a second cache key, so {actual} runs twice with separate state (and the import fails on Linux).",
                        site.specifier
                    ),
                )
            } else {
                (
                    Severity::Error,
                    format!(
                        "'{}' differs in letter case from {actual}: on this case-sensitive file system Node throws \"Cannot find module\"; on macOS and Windows it would load a second instance.",
                        site.specifier
                    ),
                )
            };
            let mut diagnostic = ctx.diagnostic(META.code, severity, id, site.span, message);
            let mut new_text = corrected.clone();
            if let Some(suffix) = &site.url_suffix {
                new_text.push_str(suffix);
            }
            diagnostic.fixes.push(Fix {
                title: format!("Change to '{corrected}'"),
                edits: vec![TextEdit {
                    location: ctx.location(id, inside_quotes(site.span)),
                    new_text,
                }],
            });
            out.push(diagnostic);
        }
    }
}
