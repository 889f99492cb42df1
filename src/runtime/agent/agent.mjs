// ES module entry of the modgraph runtime agent: `node --import <this file> app.mjs`.
import './agent.cjs';
