//! modgraph: the module graph of a Node.js workspace, the problems that come from how Node
//! caches modules, and the tools to see them. See ARCHITECTURE.md for the map.

pub mod background;
pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod extract;
pub mod graph;
pub mod line_index;
pub mod lsp;
pub mod resolve;
pub mod rules;
pub mod runtime;
pub mod workspace;
