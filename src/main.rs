use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("MODGRAPH_LOG"))
        .with_writer(std::io::stderr)
        .init();
    modgraph::cli::main(modgraph::cli::Cli::parse())
}
