'use strict';
// modgraph runtime agent (protocol 1). Preloaded with `--import agent.mjs` or `--require
// agent.cjs`. It records the project modules this process loads, listens for modgraph clients
// on a private endpoint, and reloads a subgraph of modules on request. Nothing here may throw
// into the application: every entry point from outside is guarded.

const AGENT_KEY = Symbol.for('modgraph.agent');
if (globalThis[AGENT_KEY]) return; // preloaded twice (--import and --require): keep the first

const { isMainThread } = require('node:worker_threads');
const Module = require('node:module');
const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');
const os = require('node:os');
const crypto = require('node:crypto');
const { pathToFileURL } = require('node:url');
const core = require('./hooks-core.cjs');

const PROTOCOL = 1;
const MAX_MESSAGE_BYTES = 1 << 20;
const HELLO_TIMEOUT_MS = 5000;

/** Everything the agent knows about the process's project modules. */
const state = {
  /** path -> { path, format, hash, loads } for every project module loaded so far */
  modules: new Map(),
  /** path -> Set(path): static ESM edges seen by the resolve hook (importer -> imported) */
  esmEdges: new Map(),
  /** path -> Set(path): the same edges the other way (imported -> importers) */
  esmImporters: new Map(),
  /** project files an ES module import resolved to, from any importer */
  esmResolved: new Set(),
  /** path -> generation: members of past reloads load under `?mgv=<generation>` */
  versions: new Map(),
  /** path -> { current, pending } hot contexts */
  hot: new Map(),
  generation: 0,
  /** superseded ES module instances that V8 keeps (they cannot be freed) */
  esmRetained: 0,
  reloads: 0,
  /** the reload in progress, if any */
  transaction: null,
  /** the modules loaded off-thread report through this (module.register path) */
  hooksPort: null,
  /** `modgraph/worker` hosts: modules running in worker threads, swapped on reload */
  workerHosts: new Set(),
};

const isProjectFile = core.isProjectFile;

// ---------------------------------------------------------------------------------------------
// Recording loads

function recordModule(file, format, hash) {
  if (!isProjectFile(file)) return;
  const known = state.modules.get(file);
  if (known) {
    known.format = format;
    known.hash = hash;
    known.loads += 1;
  } else {
    state.modules.set(file, { path: file, format, hash, loads: 1 });
  }
  announce({ path: file, format, hash });
}

function recordEsmEdge(parent, child) {
  state.esmResolved.add(child);
  let children = state.esmEdges.get(parent);
  if (!children) state.esmEdges.set(parent, (children = new Set()));
  children.add(child);
  let parents = state.esmImporters.get(child);
  if (!parents) state.esmImporters.set(child, (parents = new Set()));
  parents.add(parent);
}

function forgetEsmEdges(parent) {
  const children = state.esmEdges.get(parent);
  if (!children) return;
  state.esmEdges.delete(parent);
  for (const child of children) {
    const parents = state.esmImporters.get(child);
    if (!parents) continue;
    parents.delete(parent);
    if (parents.size === 0) state.esmImporters.delete(child);
  }
}

// CommonJS: record every compiled project file; `module.children` already holds its edges.
const originalCompile = Module.prototype._compile;
Module.prototype._compile = compileWithRecord;
function compileWithRecord(content, filename, ...rest) {
  let kept;
  try {
    if (isProjectFile(filename) && typeof content === 'string') {
      const known = compiledCjs.get(filename);
      const hash = known && known.content === content ? known.hash : core.hashText(content);
      if (state.transaction) kept = reusableFunction(filename, content, hash, rest[0]);
      recordCompiled(this, filename, hash);
    }
  } catch (error) {
    internalError('recording a CommonJS module', error);
  }
  if (kept) return runKept(this, filename, kept);
  return originalCompile.call(this, content, filename, ...rest);
}

function recordCompiled(mod, filename, hash) {
  recordModule(filename, 'cjs', hash);
  mod.hot = createHot(filename, 'cjs', mod);
  // A module is in its parent's `children` from its construction, also when it was made
  // with `new Module(id, parent)` rather than loaded through `Module._load`.
  cjsChanged(mod.parent);
}

// A reload runs the modules above the edited one again, and their text has not changed: they
// call the function V8 compiled for that same text the last time (its inner functions keep
// their bytecode too) instead of compiling all of it again, and the files the reload was not
// told have changed are not even read again (a change it was not told of is in the next
// reload's list, since the module's recorded hash stays the old one). Only during reloads, and
// only for plain CommonJS text that Node compiled as it is: a text that could start a dynamic
// import (`import`, `eval`, `Function`) or names a source map keeps Node's own compile, since
// the function compiled here cannot import and Node keeps source maps per compile.
const vm = require('node:vm');
const CJS_PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'];
/** file -> { content, hash, fn }: the function compiled for the text the file had */
const compiledCjs = new Map();
const originalWrap = Module.wrap;
const originalWrapper = Module.wrapper;
const nodeOptions = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS || ''}`;
const policies = /--experimental-policy|--policy-integrity/.test(nodeOptions);

/** Node compiles through `Module.wrap` once it is replaced, and checks policies per text. */
function plainCompile() {
  return !policies && Module.wrap === originalWrap && Module.wrapper === originalWrapper;
}

function reusableFunction(file, content, hash, format) {
  // Other formats (TypeScript) are turned into another text first.
  if (!plainCompile() || (format !== undefined && format !== 'commonjs')) return undefined;
  const known = compiledCjs.get(file);
  if (known && known.content === content) return known.fn;
  compiledCjs.delete(file);
  // Compiled here only when the process already ran this same text: a new text is compiled by
  // Node, so that its errors read as Node's.
  const before = state.modules.get(file);
  if (!before || before.format !== 'cjs' || before.hash !== hash) return undefined;
  if (/\bimport\b|\beval\b|\bFunction\b|sourceMappingURL|sourceURL/.test(content)) return undefined;
  let fn;
  try {
    // Should a dynamic import be reached anyway (an eval under another name), it goes to
    // Node's loader as from a module Node compiled.
    fn = vm.compileFunction(content, CJS_PARAMS, { filename: file, importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER });
  } catch {
    return undefined;
  }
  compiledCjs.set(file, { content, hash, fn });
  return fn;
}

/** What `Module.prototype._compile` does with a compiled CommonJS function: run it. */
function runKept(mod, filename, fn) {
  return Reflect.apply(fn, mod.exports, [mod.exports, requireFor(mod), mod, filename, path.dirname(filename)]);
}

/** The `require` a CommonJS module receives, as Node makes it. */
function requireFor(mod) {
  const ModuleOf = mod.constructor;
  const require = function require(id) {
    return mod.require(id);
  };
  const resolve = function resolve(request, options) {
    if (typeof request !== 'string') throw argumentError(request);
    return ModuleOf._resolveFilename(request, mod, false, options);
  };
  resolve.paths = function paths(request) {
    if (typeof request !== 'string') throw argumentError(request);
    return ModuleOf._resolveLookupPaths(request, mod);
  };
  require.resolve = resolve;
  require.main = process.mainModule;
  require.extensions = ModuleOf._extensions;
  require.cache = ModuleOf._cache;
  return require;
}

function argumentError(value) {
  return Object.assign(new TypeError(`The "request" argument must be of type string. Received ${typeof value}`), { code: 'ERR_INVALID_ARG_TYPE' });
}

/**
 * During a reload, a member the reload was not told has changed runs its kept function without
 * its file being read: the one step of Node's loading that reads and compiles is skipped, the
 * rest (resolution, the cache, `children`) is Node's. Not when a loader compiles the module its
 * own way (a per-module `_compile`, a replaced `Module.prototype._compile`).
 */
function keptUnread(mod, filename) {
  const transaction = state.transaction;
  if (!transaction || transaction.changed.has(filename) || !isProjectFile(filename)) return undefined;
  if (mod._compile !== compileWithRecord || !plainCompile()) return undefined;
  const known = compiledCjs.get(filename);
  const before = state.modules.get(filename);
  if (!known || !before || before.format !== 'cjs' || before.hash !== known.hash) return undefined;
  recordCompiled(mod, filename, known.hash);
  return known.fn;
}
for (const extension of ['.js', '.cjs']) {
  const original = Module._extensions[extension];
  if (typeof original !== 'function') continue;
  Module._extensions[extension] = function loadProjectModule(mod, filename, ...rest) {
    let kept;
    try {
      kept = keptUnread(mod, filename);
    } catch (error) {
      internalError('running a kept CommonJS function', error);
    }
    if (kept) {
      runKept(mod, filename, kept);
      return;
    }
    return original.call(this, mod, filename, ...rest);
  };
}

// ES modules: hooks in this thread where Node has them (22.15+), off-thread otherwise (20.6+).
const hookHost = {
  isProjectFile,
  versionOf: (file) => state.versions.get(file),
  onLoad: (file, format, hash) => {
    forgetEsmEdges(file);
    recordModule(file, format, hash);
  },
  onEdge: recordEsmEdge,
  onResolved: (file) => state.esmResolved.add(file),
};
let esmHooks = 'none';
if (typeof Module.registerHooks === 'function') {
  const hooks = core.createHooks(hookHost);
  Module.registerHooks({ resolve: hooks.resolveSync, load: hooks.loadSync });
  esmHooks = 'registerHooks';
}

/**
 * Off-thread hooks for Node without `module.registerHooks` (20.6 to 22.14). Called by
 * agent.mjs (`--import`) and by workers: Node 20 exits when a `--require` preload registers
 * hooks with a transferred port, so under `--require` alone ES modules are not followed there.
 */
function registerOffThread() {
  if (esmHooks !== 'none' || typeof Module.register !== 'function') return;
  const { MessageChannel } = require('node:worker_threads');
  const channel = new MessageChannel();
  state.hooksPort = channel.port1;
  channel.port1.on('message', onHooksMessage);
  channel.port1.unref();
  Module.register(pathToFileURL(path.join(__dirname, 'hooks.mjs')).href, {
    data: { port: channel.port2 },
    transferList: [channel.port2],
  });
  esmHooks = 'register';
}

function onHooksMessage(message) {
  try {
    if (message.type === 'load') hookHost.onLoad(message.path, message.format, message.hash);
    else if (message.type === 'edge') recordEsmEdge(message.parent, message.child);
    else if (message.type === 'resolved') hookHost.onResolved(message.path);
    else if (message.type === 'ack') settleAck(message.seq);
  } catch (error) {
    internalError('reading a message from the module hooks', error);
  }
}

/** Takes in what the hooks thread has sent so far, without waiting for the event loop. */
function takeHooksMessages() {
  if (!state.hooksPort) return;
  const { receiveMessageOnPort } = require('node:worker_threads');
  let entry;
  while ((entry = receiveMessageOnPort(state.hooksPort)) !== undefined) onHooksMessage(entry.message);
}

// Versions must reach the off-thread hooks before the next import: wait for its echo.
let ackSeq = 0;
const ackWaiters = new Map();
function settleAck(seq) {
  const resolve = ackWaiters.get(seq);
  if (resolve) {
    ackWaiters.delete(seq);
    if (ackWaiters.size === 0) state.hooksPort.unref();
    resolve();
  }
}
function syncVersions(changes) {
  if (!state.hooksPort) return Promise.resolve();
  const seq = ++ackSeq;
  return new Promise((resolve) => {
    ackWaiters.set(seq, resolve);
    // Waiting for the echo must keep the thread alive (a worker may have nothing else).
    state.hooksPort.ref();
    state.hooksPort.postMessage({ type: 'versions', seq, changes });
  });
}

// ---------------------------------------------------------------------------------------------
// Hot module API (`import.meta.hot` / `module.hot`), with the names Vite and webpack use.

function createHot(file, format, cjsModule) {
  let record = state.hot.get(file);
  if (!record) state.hot.set(file, (record = { current: null, pending: null }));
  const transaction = state.transaction;
  const previous = record.current;
  const context = {
    file,
    selfAccept: false,
    selfAcceptCallbacks: [],
    acceptDeps: new Map(), // path -> callbacks
    disposeCallbacks: [],
    declined: false,
    disposed: false,
    dataObject: {},
  };
  const resolveDep = (specifier) => {
    if (format === 'cjs') return Module._resolveFilename(specifier, cjsModule);
    return core.pathOfUrl(new URL(specifier, pathToFileURL(file)).href);
  };
  const hot = {
    get data() {
      // The new version takes over its state now: the old one hands it over first.
      if (transaction && previous && !previous.disposed) runDispose(previous, context.dataObject);
      return context.dataObject;
    },
    accept(deps, callback) {
      if (deps === undefined || typeof deps === 'function') {
        context.selfAccept = true;
        if (typeof deps === 'function') context.selfAcceptCallbacks.push(deps);
        return;
      }
      const list = Array.isArray(deps) ? deps : [deps];
      for (const dep of list) {
        const resolved = resolveDep(String(dep));
        const callbacks = context.acceptDeps.get(resolved) || [];
        if (typeof callback === 'function') callbacks.push({ callback, deps: list, many: Array.isArray(deps) });
        context.acceptDeps.set(resolved, callbacks);
      }
    },
    dispose(callback) {
      if (typeof callback === 'function') context.disposeCallbacks.push(callback);
    },
    prune(callback) {
      if (typeof callback === 'function') context.disposeCallbacks.push(callback);
    },
    decline() {
      context.declined = true;
    },
    invalidate() {
      context.selfAccept = false;
    },
    on() {},
    off() {},
    // webpack's status API, for code that checks it
    status: () => (state.transaction ? 'apply' : 'idle'),
  };
  if (transaction) record.pending = context;
  else record.current = context;
  return hot;
}

globalThis[Symbol.for('modgraph.hot')] = function hotForUrl(url) {
  try {
    return createHot(core.pathOfUrl(url), 'esm', null);
  } catch (error) {
    internalError('creating import.meta.hot', error);
    return undefined;
  }
};

function runDispose(context, data) {
  context.disposed = true;
  for (const callback of context.disposeCallbacks) {
    try {
      callback(data);
    } catch (error) {
      process.emitWarning(`modgraph: a dispose callback of ${context.file} threw: ${error && error.stack}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reload

// CommonJS edges live in `module.children`, which Node appends to when a module loads another
// (`Module._load` with that module as the parent). Their reverse index is kept up to date as
// modules load: after each `Module._load`, the parent's `children` is read again if it changed
// (only its new tail when the array is the one seen last time, whole when it is a new one). A
// reload then reads nothing but the modules it visits: an edge is used only while its parent is
// still the module require.cache holds for that file, and is read again from it otherwise.
const cjsIndex = {
  /** file -> { module, children, length } as last read */
  seen: new Map(),
  /** parent file -> Set(child file): project children only */
  children: new Map(),
  /** child file -> Set(parent file), parents of any kind (also under node_modules) */
  parents: new Map(),
};

function cjsUnlink(parent, child) {
  const parents = cjsIndex.parents.get(child);
  if (!parents) return;
  parents.delete(parent);
  if (parents.size === 0) cjsIndex.parents.delete(child);
}

function cjsLink(parent, child) {
  let parents = cjsIndex.parents.get(child);
  if (!parents) cjsIndex.parents.set(child, (parents = new Set()));
  parents.add(parent);
}

function cjsForget(parent) {
  const children = cjsIndex.children.get(parent);
  if (!children) return;
  cjsIndex.children.delete(parent);
  for (const child of children) cjsUnlink(parent, child);
}

function cjsAdd(parent, list, from) {
  let children = cjsIndex.children.get(parent);
  for (let i = from; i < list.length; i++) {
    const child = list[i] && list[i].filename;
    if (!isProjectFile(child)) continue;
    if (!children) cjsIndex.children.set(parent, (children = new Set()));
    children.add(child);
    cjsLink(parent, child);
  }
}

/** The project children of `parent` are now the files in `list`: only the differences change. */
function cjsReplace(parent, list) {
  const before = cjsIndex.children.get(parent);
  let after;
  for (let i = 0; list && i < list.length; i++) {
    const child = list[i] && list[i].filename;
    if (isProjectFile(child)) (after ??= new Set()).add(child);
  }
  if (before) for (const child of before) if (!after || !after.has(child)) cjsUnlink(parent, child);
  if (!after) {
    cjsIndex.children.delete(parent);
    return;
  }
  for (const child of after) if (!before || !before.has(child)) cjsLink(parent, child);
  cjsIndex.children.set(parent, after);
}

/** Reads the edges of `file` from `mod`, the module require.cache holds for it (or none). */
function cjsRead(file, mod) {
  const known = cjsIndex.seen.get(file);
  if (!mod) {
    if (known) {
      cjsIndex.seen.delete(file);
      cjsForget(file);
    }
    return;
  }
  const list = Array.isArray(mod.children) ? mod.children : null;
  if (known && known.module === mod && known.children === list) {
    if (!list || known.length === list.length) return;
    if (known.length < list.length) {
      cjsAdd(file, list, known.length);
      known.length = list.length;
      return;
    }
  }
  // A module evaluated again mostly requires what its old instance did.
  cjsReplace(file, list);
  cjsIndex.seen.set(file, { module: mod, children: list, length: list ? list.length : 0 });
}

/**
 * `mod` may have new children. Read at once, or during a reload once it ends: a module loaded
 * then is read once with all its children, not once per `require`. Nothing reads the index
 * while a reload runs.
 */
function cjsChanged(mod) {
  if (state.transaction) {
    if (mod && typeof mod === 'object') state.transaction.cjsChanged.add(mod);
    return;
  }
  const file = cachedFile(mod);
  if (file !== undefined) cjsRead(file, mod);
}

/** Reads the modules that changed during the reload that is ending. */
function cjsReadChanged(transaction) {
  for (const mod of transaction.cjsChanged) {
    const file = cachedFile(mod);
    if (file !== undefined) cjsRead(file, mod);
  }
  transaction.cjsChanged.clear();
}

/** The cached module of `mod`'s file, when `mod` is it. */
function cachedFile(mod) {
  const file = mod && typeof mod === 'object' ? mod.filename : undefined;
  return typeof file === 'string' && Module._cache[file] === mod ? file : undefined;
}

// Modules loaded before the agent (other preloads), then every load from now on.
for (const file of Object.keys(Module._cache)) cjsRead(file, Module._cache[file]);
const originalLoad = Module._load;
Module._load = function loadWithRecord(request, parent, isMain, ...rest) {
  try {
    return originalLoad.call(this, request, parent, isMain, ...rest);
  } finally {
    try {
      cjsChanged(parent);
    } catch (error) {
      internalError('recording a CommonJS edge', error);
    }
  }
};

/** Project modules whose cached module has `file` among its children. */
function cjsParents(file) {
  const found = [];
  const candidates = cjsIndex.parents.get(file);
  if (!candidates) return found;
  for (const parent of [...candidates]) {
    // The module may have been evaluated again, replaced or dropped since it was read.
    cjsRead(parent, Module._cache[parent]);
    if (cjsIndex.children.get(parent)?.has(file)) found.push(parent);
  }
  return found;
}

/** Importers of loaded project modules, from the process itself: `get(file)` -> Set. */
function runtimeImporters() {
  const memo = new Map();
  return {
    get(file) {
      let set = memo.get(file);
      if (set) return set;
      set = new Set(state.esmImporters.get(file));
      for (const parent of cjsParents(file)) if (isProjectFile(parent)) set.add(parent);
      memo.set(file, set);
      return set;
    },
  };
}

/**
 * The reload subgraph: the changed modules and, transitively, the modules that import them,
 * stopping at modules that accept the update and at entry points (modules nothing imports).
 */
function planSubgraph(changed, staticImporters) {
  const importers = runtimeImporters();
  const members = new Set();
  const selfAccepting = new Set();
  const roots = new Set();
  const acceptors = new Map(); // acceptor path -> Set(dep path)
  const staticOnly = [];
  const queue = changed.filter((file) => state.modules.has(file));
  while (queue.length > 0) {
    const file = queue.pop();
    if (members.has(file)) continue;
    members.add(file);
    const context = state.hot.get(file)?.current;
    if (context && context.declined) {
      throw Object.assign(new Error(`${file} declines updates (hot.decline())`), { file });
    }
    if (context && context.selfAccept) {
      selfAccepting.add(file);
      continue;
    }
    const parents = new Set(importers.get(file) || []);
    for (const parent of staticImporters[file] || []) {
      if (state.modules.has(parent) && !parents.has(parent)) {
        parents.add(parent);
        staticOnly.push(parent);
      }
    }
    if (parents.size === 0) {
      roots.add(file);
      continue;
    }
    for (const parent of parents) {
      const parentContext = state.hot.get(parent)?.current;
      if (parentContext && parentContext.acceptDeps.has(file)) {
        if (!acceptors.has(parent)) acceptors.set(parent, new Set());
        acceptors.get(parent).add(file);
      } else {
        queue.push(parent);
      }
    }
  }
  return { members, selfAccepting, roots, acceptors, staticOnly, importers };
}

function versionedUrl(file, generation) {
  return `${pathToFileURL(file).href}?mgv=${generation}`;
}

/** A `data:` module importing the new versions of `files` in order; its default export lists their namespaces. */
function combinedUrl(files, generation) {
  const imports = files.map((file, i) => `import * as m${i} from ${JSON.stringify(versionedUrl(file, generation))};\n`);
  const source = `${imports.join('')}export default [${files.map((_, i) => `m${i}`).join(', ')}];\n`;
  return `data:text/javascript,${encodeURIComponent(source)}`;
}

/** Evaluates the new version of one module; resolves to its namespace or exports. */
async function loadFresh(file, generation) {
  const known = state.modules.get(file);
  if (known && known.format === 'cjs' && !file.endsWith('.mjs')) {
    return Module._cache[file] ? Module._cache[file].exports : Module._load(file, null, false);
  }
  return import(versionedUrl(file, generation));
}

let reloadChain = Promise.resolve();
function reload(params) {
  const run = reloadChain.then(() => reloadNow(params));
  reloadChain = run.catch(() => {});
  return run;
}

async function reloadNow(params) {
  const started = process.hrtime.bigint();
  const changed = (Array.isArray(params.changed) ? params.changed : []).filter((f) => typeof f === 'string');
  const staticImporters = params.importers && typeof params.importers === 'object' ? params.importers : {};
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
  // A client may only reload files of the program's own tree.
  const home = process.cwd() + path.sep;
  const outside = changed.find((file) => !path.isAbsolute(file) || !path.resolve(file).startsWith(home));
  if (outside !== undefined) {
    return failure(
      Object.assign(new Error(`refused: ${outside} is outside the working directory of this process (${process.cwd()})`), { name: 'ReloadRefused' }),
      [],
      elapsed(),
    );
  }
  const workers = await swapWorkers(changed);
  let plan;
  try {
    plan = planSubgraph(changed, staticImporters);
  } catch (error) {
    return failure(error, [], elapsed());
  }
  const members = [...plan.members];
  if (members.length === 0) {
    const failed = workers.find((w) => w.error);
    return { ok: !failed, reloaded: [], entries: [], boundaries: [], workers, error: failed ? failed.error : undefined, durationMs: elapsed(), esmInstancesRetained: state.esmRetained };
  }
  const generation = ++state.generation;
  const previousVersions = new Map(members.map((file) => [file, state.versions.get(file)]));
  const savedCjs = new Map();
  for (const file of members) {
    state.versions.set(file, generation);
    if (Module._cache[file]) {
      savedCjs.set(file, Module._cache[file]);
      delete Module._cache[file];
    }
  }
  const isCjs = (file) => state.modules.get(file)?.format === 'cjs' && !file.endsWith('.mjs');
  // Versions are read by ES module imports only. CommonJS members that no import ever resolved
  // to run while the hooks take the versions in (on their own thread before Node 22); the echo
  // is awaited before anything is imported, and taken at once when it has come by then
  // (waiting for the event loop would first serve whatever else is pending). Any other reload
  // waits for the echo first, as it always did.
  const cjsOnly = members.every(isCjs);
  if (cjsOnly) takeHooksMessages();
  const versionsSynced = syncVersions(members.map((file) => [file, generation]));
  const runBeforeEcho = cjsOnly && !members.some((file) => state.esmResolved.has(file));
  if (!runBeforeEcho) await versionsSynced;
  const transaction = { generation, members: plan.members, changed: new Set(changed), cjsChanged: new Set() };
  state.transaction = transaction;
  for (const file of members) {
    const record = state.hot.get(file);
    if (record) record.pending = null;
  }
  const targets = [...plan.roots, ...plan.selfAccepting];
  const acceptedDeps = new Set();
  for (const deps of plan.acceptors.values()) for (const dep of deps) acceptedDeps.add(dep);
  const fresh = new Map();
  // CommonJS members that no CommonJS member requires are evaluated with require() first:
  // an ES module that imports them then finds them in the cache. (Node 20 reports a throw in
  // CommonJS evaluated under an ES module import as an uncaught exception too, killing the app.)
  const cjsTops = members.filter(
    (file) => isCjs(file) && ![...(plan.importers.get(file) || [])].some((parent) => plan.members.has(parent) && isCjs(parent)),
  );
  try {
    for (const file of cjsTops) {
      if (!Module._cache[file]) fresh.set(file, Module._load(file, null, false));
    }
    if (runBeforeEcho) {
      takeHooksMessages();
      await versionsSynced;
    }
    const wanted = [...targets, ...acceptedDeps].filter((file) => !fresh.has(file));
    // ES modules in one import: Node links and instantiates the whole graph under each import
    // (before 22, by walking every module below it), so one import for all of them walks it
    // once. None of them runs before all of them have linked.
    const esmWanted = wanted.filter((file) => !isCjs(file));
    if (esmWanted.length > 1) {
      const all = await import(combinedUrl(esmWanted, generation));
      esmWanted.forEach((file, i) => fresh.set(file, all.default[i]));
    }
    for (const file of wanted) {
      if (!fresh.has(file)) fresh.set(file, await loadFresh(file, generation));
    }
  } catch (error) {
    // Roll back: the old instances stay the ones every importer and every later import sees.
    for (const [file, version] of previousVersions) {
      if (version === undefined) state.versions.delete(file);
      else state.versions.set(file, version);
    }
    await syncVersions([...previousVersions].map(([file, version]) => [file, version ?? 0]));
    for (const file of members) {
      if (savedCjs.has(file)) Module._cache[file] = savedCjs.get(file);
      else delete Module._cache[file];
      // The edges of the new instances that ran go: the old ones' edges are read again.
      cjsRead(file, Module._cache[file]);
      const record = state.hot.get(file);
      if (record) record.pending = null;
    }
    state.transaction = null;
    cjsReadChanged(transaction);
    return failure(error, members, elapsed());
  }
  // Commit: the old versions let go of their resources, then the boundaries take the new ones.
  state.transaction = null;
  cjsReadChanged(transaction);
  for (const file of members) {
    const record = state.hot.get(file);
    if (!record) continue;
    const next = record.pending;
    if (record.current && !record.current.disposed) runDispose(record.current, next ? next.dataObject : {});
    record.current = next;
    record.pending = null;
  }
  relinkCjsChildren(savedCjs);
  let esmReloaded = 0;
  for (const file of members) if (state.modules.get(file)?.format !== 'cjs') esmReloaded += 1;
  state.esmRetained += esmReloaded;
  state.reloads += 1;
  const callbackErrors = [];
  for (const file of plan.selfAccepting) {
    const context = state.hot.get(file)?.current;
    for (const callback of context ? context.selfAcceptCallbacks : []) {
      try {
        callback(fresh.get(file));
      } catch (error) {
        callbackErrors.push(describeError(error));
      }
    }
  }
  for (const [acceptor, deps] of plan.acceptors) {
    const context = state.hot.get(acceptor)?.current;
    if (!context) continue;
    for (const dep of deps) {
      for (const entry of context.acceptDeps.get(dep) || []) {
        try {
          if (entry.many) entry.callback(entry.deps.map((d) => fresh.get(safeResolve(context, d)) ?? undefined));
          else entry.callback(fresh.get(dep));
        } catch (error) {
          callbackErrors.push(describeError(error));
        }
      }
    }
  }
  return {
    ok: true,
    reloaded: members,
    entries: [...plan.roots],
    boundaries: [...plan.selfAccepting, ...plan.acceptors.keys()],
    staticOnlyImporters: plan.staticOnly,
    callbackErrors,
    workers,
    durationMs: elapsed(),
    esmInstancesRetained: state.esmRetained,
  };
}

/** Worker hosts whose worker loaded a changed file start a fresh worker. */
async function swapWorkers(changed) {
  const results = [];
  if (state.workerHosts.size === 0) return results;
  const wanted = new Set(changed);
  for (const host of state.workerHosts) {
    if (!host.files().some((file) => wanted.has(file))) continue;
    try {
      results.push({ ok: true, ...(await host.swap()) });
    } catch (error) {
      results.push({ ok: false, module: host.url, error: describeError(error) });
    }
  }
  return results;
}

function safeResolve(context, dep) {
  try {
    return core.pathOfUrl(new URL(dep, pathToFileURL(context.file)).href);
  } catch {
    return dep;
  }
}

/** Old CommonJS modules leave their parents' `children`; the new ones take their place. */
function relinkCjsChildren(savedCjs) {
  if (savedCjs.size === 0) return;
  const replaced = new Map();
  const parents = new Set();
  for (const [file, old] of savedCjs) {
    replaced.set(old, Module._cache[file]);
    // The index follows every load: it knows every parent.
    for (const parent of cjsIndex.parents.get(file) || []) parents.add(parent);
  }
  for (const parent of parents) {
    // The new instance of a member was evaluated after the old ones left the cache.
    if (savedCjs.has(parent)) continue;
    const mod = Module._cache[parent];
    if (!mod || !Array.isArray(mod.children) || mod.children.length === 0) continue;
    let touched = false;
    const next = [];
    for (const child of mod.children) {
      if (replaced.has(child)) {
        touched = true;
        const fresh = replaced.get(child);
        if (fresh && !next.includes(fresh)) next.push(fresh);
      } else next.push(child);
    }
    if (touched) {
      mod.children = next;
      cjsRead(parent, mod);
    }
  }
  for (const [file, old] of savedCjs) {
    if (Array.isArray(old.children)) old.children = [];
    // The index lets go of the old instance (one that loads nothing was never read again).
    cjsRead(file, Module._cache[file]);
  }
}

function describeError(error) {
  const message = error && error.message ? String(error.message) : String(error);
  const name = error && error.name ? String(error.name) : 'Error';
  const stack = error && error.stack ? String(error.stack) : '';
  return { name, message, stack, ...core.locateError(error, isProjectFile) };
}

function failure(error, members, durationMs) {
  return { ok: false, reloaded: [], attempted: members, error: describeError(error), durationMs, esmInstancesRetained: state.esmRetained };
}

// ---------------------------------------------------------------------------------------------
// Discovery record and the control endpoint

function runtimeDirectory() {
  const base = process.env.XDG_RUNTIME_DIR
    ? path.join(process.env.XDG_RUNTIME_DIR, 'modgraph')
    : path.join(os.tmpdir(), `modgraph-${typeof process.getuid === 'function' ? process.getuid() : 'user'}`);
  return privateFolder(base);
}

function privateFolder(base) {
  fs.mkdirSync(base, { recursive: true, mode: 0o700 });
  if (process.platform !== 'win32') {
    const stat = fs.lstatSync(base);
    if (!stat.isDirectory() || stat.uid !== process.getuid()) {
      throw new Error(`${base} is not a directory owned by this user`);
    }
    if ((stat.mode & 0o077) !== 0) fs.chmodSync(base, 0o700);
  }
  return base;
}

const clients = new Set();
let pendingAnnouncements = [];
function announce(module) {
  if (clients.size === 0) return;
  if (pendingAnnouncements.length === 0) setImmediate(flushAnnouncements).unref();
  pendingAnnouncements.push(module);
}
function flushAnnouncements() {
  const modules = pendingAnnouncements;
  pendingAnnouncements = [];
  broadcast('modules/loaded', { modules });
}
function broadcast(method, params, except) {
  for (const client of clients) if (client.authed && client !== except) send(client, { jsonrpc: '2.0', method, params });
}

function send(client, message) {
  if (client.socket.destroyed) return;
  try {
    client.socket.write(`${JSON.stringify(message)}\n`);
  } catch {
    client.socket.destroy();
  }
}

function reply(client, id, result) {
  send(client, { jsonrpc: '2.0', id, result });
}

function replyError(client, id, code, message) {
  send(client, { jsonrpc: '2.0', id: id ?? null, error: { code, message } });
}

function tokenMatches(given, expected) {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function processInfo(endpoint) {
  return {
    protocol: PROTOCOL,
    pid: process.pid,
    cwd: process.cwd(),
    argv: process.argv,
    node: process.version,
    endpoint,
    esmHooks,
  };
}

function handleMessage(client, endpoint, token, line) {
  let message;
  try {
    message = JSON.parse(line);
  } catch {
    replyError(client, null, -32700, 'parse error: each message is one JSON-RPC 2.0 object on one line');
    if (!client.authed) client.socket.destroy();
    return;
  }
  if (!message || typeof message !== 'object' || message.jsonrpc !== '2.0' || typeof message.method !== 'string') {
    replyError(client, message && message.id, -32600, 'invalid request: expected {"jsonrpc":"2.0","method":…}');
    if (!client.authed) client.socket.destroy();
    return;
  }
  const { id, method } = message;
  const params = message.params && typeof message.params === 'object' ? message.params : {};
  if (!client.authed) {
    if (method !== 'hello' || !tokenMatches(params.token, token)) {
      replyError(client, id, -32001, 'unauthorized: send "hello" with the token from the discovery record first');
      client.socket.destroy();
      return;
    }
    client.authed = true;
    clearTimeout(client.helloTimer);
    reply(client, id, { ...processInfo(endpoint), modules: state.modules.size });
    return;
  }
  switch (method) {
    case 'hello':
      reply(client, id, { ...processInfo(endpoint), modules: state.modules.size });
      return;
    case 'modules/list': {
      const modules = [...state.modules.values()].map(({ path: p, format, hash }) => ({ path: p, format, hash }));
      for (const host of state.workerHosts) for (const m of host.modules()) modules.push({ ...m, worker: true });
      reply(client, id, { modules });
      return;
    }
    case 'reload':
      reload(params).then(
        (result) => {
          if (id !== undefined) reply(client, id, result);
          broadcast('reload/finished', result, client);
        },
        (error) => replyError(client, id, -32603, `reload failed inside the agent: ${error && error.message}`),
      );
      return;
    default:
      replyError(client, id, -32601, `unknown method ${method}`);
  }
}

function onConnection(socket, endpoint, token) {
  const client = { socket, authed: false, buffer: '', helloTimer: null };
  socket.unref();
  socket.setEncoding('utf8');
  client.helloTimer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS);
  client.helloTimer.unref();
  clients.add(client);
  socket.on('error', () => {});
  socket.on('close', () => {
    clearTimeout(client.helloTimer);
    clients.delete(client);
  });
  socket.on('data', (chunk) => {
    try {
      client.buffer += chunk;
      let newline;
      while ((newline = client.buffer.indexOf('\n')) >= 0) {
        const line = client.buffer.slice(0, newline);
        client.buffer = client.buffer.slice(newline + 1);
        if (Buffer.byteLength(line) > MAX_MESSAGE_BYTES) {
          replyError(client, null, -32600, `message larger than ${MAX_MESSAGE_BYTES} bytes`);
          socket.destroy();
          return;
        }
        if (line.trim() !== '') handleMessage(client, endpoint, token, line);
        if (socket.destroyed) return;
      }
      if (Buffer.byteLength(client.buffer) > MAX_MESSAGE_BYTES) {
        replyError(client, null, -32600, `message larger than ${MAX_MESSAGE_BYTES} bytes`);
        socket.destroy();
      }
    } catch (error) {
      internalError('handling a client message', error);
      socket.destroy();
    }
  });
}

function startEndpoint() {
  const directory = runtimeDirectory();
  const token = process.env.MODGRAPH_AGENT_TOKEN || crypto.randomBytes(24).toString('hex');
  const requested = process.env.MODGRAPH_AGENT_SOCKET;
  // Child processes (fork inherits --import) get their own endpoint and token.
  delete process.env.MODGRAPH_AGENT_TOKEN;
  delete process.env.MODGRAPH_AGENT_SOCKET;
  const recordPath = path.join(directory, `${process.pid}.json`);
  const server = net.createServer((socket) => onConnection(socket, endpoint, token));
  server.on('error', (error) => internalError('the control endpoint', error));
  let endpoint;
  if (process.platform === 'win32') {
    server.listen(0, '127.0.0.1', () => {
      endpoint = `tcp:127.0.0.1:${server.address().port}`;
      writeRecord(recordPath, processInfo(endpoint), token);
    });
  } else {
    let socketPath = requested || path.join(directory, `${process.pid}.sock`);
    // Unix socket paths are limited to about 104 bytes: fall back to the temp folder.
    if (Buffer.byteLength(socketPath) > 100) {
      const fallback = privateFolder(path.join(os.tmpdir(), `modgraph-${process.getuid()}`));
      socketPath = path.join(fallback, `${process.pid}.sock`);
    }
    try {
      fs.unlinkSync(socketPath);
    } catch {}
    endpoint = `unix:${socketPath}`;
    const previousUmask = process.umask(0o177);
    try {
      server.listen(socketPath);
    } finally {
      process.umask(previousUmask);
    }
    server.on('listening', () => {
      try {
        fs.chmodSync(socketPath, 0o600);
      } catch {}
      writeRecord(recordPath, processInfo(endpoint), token);
    });
  }
  server.unref();
  const cleanup = () => {
    for (const file of [recordPath, endpoint && endpoint.startsWith('unix:') ? endpoint.slice(5) : null]) {
      try {
        if (file) fs.unlinkSync(file);
      } catch {}
    }
  };
  process.on('exit', cleanup);
  // A signal's default action skips 'exit': clean up, then let the signal do what it would
  // have done, unless the application handles the signal itself.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    try {
      process.once(signal, () => {
        cleanup();
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
    } catch {}
  }
}

function writeRecord(recordPath, info, token) {
  const temporary = `${recordPath}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify({ ...info, token, startedAt: new Date().toISOString() }), { mode: 0o600 });
  fs.renameSync(temporary, recordPath);
}

function internalError(what, error) {
  if (process.env.MODGRAPH_AGENT_DEBUG) process.stderr.write(`modgraph agent: ${what}: ${error && error.stack}\n`);
}

globalThis[AGENT_KEY] = {
  state,
  reload,
  protocol: PROTOCOL,
  workerHosts: state.workerHosts,
  registerOffThread,
  /** Resolves once every load the module hooks reported so far is recorded. */
  flush: () => syncVersions([]),
  /** A `modgraph/worker` host reports what its fresh worker loaded. */
  workerLoaded(modules) {
    for (const m of modules || []) announce({ ...m, worker: true });
  },
};

if (isMainThread && process.env.MODGRAPH_AGENT_DISABLE_ENDPOINT !== '1') {
  try {
    startEndpoint();
  } catch (error) {
    process.emitWarning(`modgraph: the runtime agent could not open its control endpoint: ${error && error.message}`);
  }
}
