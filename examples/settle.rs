use std::time::Instant;
fn main() {
    let root = std::path::PathBuf::from("/work/corpus/mui");
    let hub = root.join("zero-styled/index.js");
    let saved = std::fs::read(&hub).unwrap();
    let opts = modgraph::workspace::WorkspaceOptions {
        declaration_files: false,
    };
    let mut ws = modgraph::workspace::Workspace::open_with(&[root.clone()], opts).unwrap();
    let t = Instant::now();
    let d = modgraph::rules::check(&ws);
    println!("rules before: {:?}, {} diagnostics", t.elapsed(), d.len());
    std::fs::remove_file(&hub).unwrap();
    let t = Instant::now();
    let r = ws.apply(modgraph::workspace::FileChange::Deleted(hub.clone()));
    println!(
        "apply delete: {:?}, changed {}",
        t.elapsed(),
        r.changed.len()
    );
    let t = Instant::now();
    let d = modgraph::rules::check(&ws);
    println!("rules after: {:?}, {} diagnostics", t.elapsed(), d.len());
    std::fs::write(&hub, &saved).unwrap();
}
