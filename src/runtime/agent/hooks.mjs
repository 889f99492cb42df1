// Off-thread module hooks for Node versions without `module.registerHooks` (20.6 to 22.14).
// The agent in the main thread sends versions over `port` and waits for the echo; loads and
// edges go back the same way.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const core = require('./hooks-core.cjs');

const versions = new Map();
const resolved = new Set();
let port = null;

const hooks = core.createHooks({
  isProjectFile: core.isProjectFile,
  versionOf: (file) => versions.get(file),
  onLoad: (file, format, hash) => port?.postMessage({ type: 'load', path: file, format, hash }),
  onEdge: (parent, child) => port?.postMessage({ type: 'edge', parent, child }),
  onResolved: (file) => {
    if (resolved.has(file)) return;
    resolved.add(file);
    port?.postMessage({ type: 'resolved', path: file });
  },
});

export function initialize(data) {
  port = data && data.port;
  if (!port) return;
  port.on('message', (message) => {
    if (message && message.type === 'versions') {
      for (const [file, version] of message.changes) {
        if (version) versions.set(file, version);
        else versions.delete(file);
      }
      port.postMessage({ type: 'ack', seq: message.seq });
    }
  });
  port.unref();
}

export const resolve = hooks.resolve;
export const load = hooks.load;
