//! SARIF 2.1.0 output, in the shape GitHub code scanning accepts.

use std::path::Path;

use serde_json::{Value, json};

use super::report::Reported;

fn level(severity: &str) -> &'static str {
    match severity {
        "error" => "error",
        "warning" => "warning",
        _ => "note",
    }
}

fn region(line: u32, column: u32, end_line: u32, end_column: u32) -> Value {
    json!({ "startLine": line, "startColumn": column, "endLine": end_line, "endColumn": end_column })
}

fn file_uri(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            seg.replace('%', "%25")
                .replace(' ', "%20")
                .replace('#', "%23")
                .replace('?', "%3F")
        })
        .collect::<Vec<_>>()
        .join("/")
}

pub fn document(base: &Path, reported: &[Reported]) -> Value {
    let rules: Vec<Value> = crate::rules::all()
        .iter()
        .map(|rule| {
            let meta = rule.meta();
            json!({
                "id": meta.code,
                "name": meta.code.replace(['/', '-'], "_"),
                "shortDescription": { "text": meta.summary },
                "fullDescription": { "text": meta.summary },
                "help": { "text": format!("See {} in the modgraph repository.", meta.doc_path()) },
                "defaultConfiguration": {
                    "enabled": meta.default_severity.is_some(),
                    "level": level(meta.default_severity.map_or("note", |s| s.as_str())),
                },
            })
        })
        .collect();
    let index_of = |code: &str| {
        crate::rules::all()
            .iter()
            .position(|r| r.meta().code == code)
    };
    let results: Vec<Value> = reported
        .iter()
        .map(|r| {
            let location = |file: &str, region: Value| {
                json!({ "physicalLocation": {
                    "artifactLocation": { "uri": file_uri(file), "uriBaseId": "%SRCROOT%" },
                    "region": region,
                }})
            };
            let related: Vec<Value> = r
                .related
                .iter()
                .enumerate()
                .map(|(i, rel)| {
                    let mut loc = location(&rel.file, json!({ "startLine": rel.line, "startColumn": rel.column }));
                    loc["id"] = json!(i + 1);
                    loc["message"] = json!({ "text": rel.message });
                    loc
                })
                .collect();
            let mut result = json!({
                "ruleId": r.code,
                "level": level(r.severity),
                "message": { "text": r.message },
                "locations": [location(&r.file, region(r.line, r.column, r.end_line, r.end_column))],
                "partialFingerprints": { "modgraph/v1": format!("{}:{}:{}", r.code, r.file, r.source_line.trim()) },
            });
            if let Some(i) = index_of(r.code) {
                result["ruleIndex"] = json!(i);
            }
            if !related.is_empty() {
                result["relatedLocations"] = json!(related);
            }
            result
        })
        .collect();
    let mut root_uri = format!("file://{}", file_uri(&base.display().to_string()));
    if !root_uri.ends_with('/') {
        root_uri.push('/');
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "modgraph",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "originalUriBaseIds": { "%SRCROOT%": { "uri": root_uri } },
            "columnKind": "utf16CodeUnits",
            "results": results,
        }]
    })
}
