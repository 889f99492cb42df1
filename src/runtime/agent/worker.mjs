// `modgraph/worker`: run a module in a worker thread and call its exports. A reload that
// touches any file the worker loaded starts a fresh worker (an empty module cache); calls in
// flight finish on the old one, which is terminated once its last call has answered. This is
// the way to re-evaluate ES modules without keeping the old instances: terminating a worker
// frees everything it loaded.
//
//   import { workerModule } from 'modgraph/worker';
//   const render = workerModule(new URL('./render.mjs', import.meta.url));
//   const html = await render.call('page', { title: 'Hi' });

import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

const RUNNER = `
const { parentPort, workerData } = require('node:worker_threads');
// Workers do not inherit --import: the agent records what this worker loads.
try { require(workerData.agent); } catch {}
const agent = () => globalThis[Symbol.for('modgraph.agent')];
agent()?.registerOffThread();
import(workerData.url).then(async (namespace) => {
  if (agent()) await agent().flush();
  const modules = agent() ? [...agent().state.modules.values()].map(({ path, format, hash }) => ({ path, format, hash })) : null;
  parentPort.postMessage({ type: 'ready', modules });
  parentPort.on('message', async ({ id, name, args }) => {
    try {
      const target = namespace[name];
      if (typeof target !== 'function') throw new TypeError(name + ' is not an exported function of ' + workerData.url);
      parentPort.postMessage({ type: 'result', id, value: await target(...args) });
    } catch (error) {
      parentPort.postMessage({ type: 'result', id, error: error instanceof Error ? { message: error.message, stack: error.stack, name: error.name } : { message: String(error) } });
    }
  });
}, (error) => {
  parentPort.postMessage({ type: 'failed', error: { message: String(error && error.message), stack: String(error && error.stack), name: String(error && error.name) } });
});
`;

const AGENT = fileURLToPath(new URL('./agent.cjs', import.meta.url));

const hosts = () => {
  const agent = globalThis[Symbol.for('modgraph.agent')];
  return agent ? agent.workerHosts : null;
};

class WorkerInstance {
  constructor(url, options) {
    this.pending = new Map();
    this.nextId = 1;
    this.modules = null;
    this.retiring = false;
    this.worker = new Worker(RUNNER, { ...options, eval: true, workerData: { url, agent: AGENT } });
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (message) => {
        if (message.type === 'ready') {
          this.modules = message.modules;
          globalThis[Symbol.for('modgraph.agent')]?.workerLoaded(message.modules);
          resolve(this);
        } else if (message.type === 'failed') {
          reject(Object.assign(new Error(message.error.message), { stack: message.error.stack, name: message.error.name }));
        } else if (message.type === 'result') {
          const call = this.pending.get(message.id);
          if (!call) return;
          this.pending.delete(message.id);
          if (message.error) call.reject(Object.assign(new Error(message.error.message), message.error));
          else call.resolve(message.value);
          this.retireIfIdle();
        }
      });
      this.worker.on('error', (error) => {
        reject(error);
        for (const call of this.pending.values()) call.reject(error);
        this.pending.clear();
      });
      this.worker.on('exit', () => {
        const error = new Error('the worker exited');
        reject(error);
        for (const call of this.pending.values()) call.reject(error);
        this.pending.clear();
      });
    });
    this.ready.catch(() => {});
  }

  call(name, args) {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ id, name, args });
    });
  }

  retireIfIdle() {
    if (this.pending.size === 0) {
      this.worker.unref();
      if (this.retiring) this.worker.terminate();
    }
  }

  retire() {
    this.retiring = true;
    this.retireIfIdle();
  }
}

export class WorkerModule {
  constructor(specifier, options = {}) {
    this.url = specifier instanceof URL ? specifier.href : String(specifier);
    this.options = options;
    this.generation = 0;
    this.current = new WorkerInstance(this.url, options);
    hosts()?.add(this);
  }

  /** Calls the exported function `name` in the current worker. */
  async call(name, ...args) {
    const instance = this.current;
    await instance.ready;
    return instance.call(name, args);
  }

  /** Files the current worker loaded (when the agent runs in it too). */
  files() {
    return this.current.modules ? this.current.modules.map((m) => m.path) : [];
  }

  modules() {
    return this.current.modules || [];
  }

  /** Starts a fresh worker; switches to it once it loaded, or keeps the old one on failure. */
  async swap() {
    const next = new WorkerInstance(this.url, this.options);
    try {
      await next.ready;
    } catch (error) {
      next.worker.terminate();
      throw error;
    }
    const previous = this.current;
    this.current = next;
    this.generation += 1;
    previous.retire();
    return { module: fileURLToPath(this.url.replace(/[?#].*$/, '')), generation: this.generation };
  }

  async close() {
    hosts()?.delete(this);
    this.current.retire();
  }
}

export function workerModule(specifier, options) {
  return new WorkerModule(specifier, options);
}
