fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ws = modgraph::workspace::Workspace::open(&[std::path::PathBuf::from(&args[1])]).unwrap();
    let p = std::fs::canonicalize(&args[2]).unwrap();
    let g = ws.graph();
    let id = g.id(&p).unwrap();
    let m = g.module(id).unwrap();
    println!("{:?} {:?} {:?}", m.origin, m.format, m.certainty);
    println!("{}", serde_json::to_string_pretty(&*m.facts).unwrap());
}
