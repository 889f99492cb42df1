// ES module entry of the modgraph runtime agent: `node --import <this file> app.mjs`.
import './agent.cjs';

// Node before 22.15 has only off-thread module hooks, registered from here (see agent.cjs).
globalThis[Symbol.for('modgraph.agent')]?.registerOffThread();
