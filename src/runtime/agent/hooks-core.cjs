'use strict';
// Module hooks shared by the in-thread (`module.registerHooks`) and off-thread
// (`module.register`) paths. `host` gives the state: which files are project files, the
// version each reloaded file loads under, and where to report loads and edges.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { fileURLToPath, pathToFileURL } = require('node:url');

const WORKER_SPECIFIER = 'modgraph/worker';
const workerUrl = pathToFileURL(path.join(__dirname, 'worker.mjs')).href;

const AGENT_DIR = __dirname + path.sep;
const NODE_MODULES = `${path.sep}node_modules${path.sep}`;

/** Project modules: absolute files outside `node_modules` and outside the agent itself. */
function isProjectFile(file) {
  return typeof file === 'string' && path.isAbsolute(file) && !file.includes(NODE_MODULES) && !file.startsWith(AGENT_DIR);
}

const pathCache = new Map();
/** The file path of a `file:` URL without its query and hash. */
function pathOfUrl(url) {
  let file = pathCache.get(url);
  if (file === undefined) {
    let bare = url;
    const cut = bare.search(/[?#]/);
    if (cut >= 0) bare = bare.slice(0, cut);
    file = fileURLToPath(bare);
    if (pathCache.size > 100000) pathCache.clear();
    pathCache.set(url, file);
  }
  return file;
}

/** The content hash modgraph compares: SHA-256 of the UTF-8 text without a leading BOM. */
function hashText(text) {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return crypto.createHash('sha256').update(body, 'utf8').digest('hex');
}

function hashSource(source) {
  if (typeof source === 'string') return hashText(source);
  let bytes = Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

function withVersion(url, version) {
  const hash = url.indexOf('#');
  const base = hash >= 0 ? url.slice(0, hash) : url;
  const fragment = hash >= 0 ? url.slice(hash) : '';
  return `${base}${base.includes('?') ? '&' : '?'}mgv=${version}${fragment}`;
}

const HOT_PRELUDE = 'import.meta.hot=globalThis[Symbol.for("modgraph.hot")]?.(import.meta.url);';

/** Gives `import.meta.hot` to modules that use it, on their first line so positions hold. */
function withHotPrelude(source) {
  const text = typeof source === 'string' ? source : Buffer.from(source.buffer, source.byteOffset, source.byteLength).toString('utf8');
  if (!text.includes('import.meta.hot')) return source;
  if (text.startsWith('#!')) {
    const end = text.indexOf('\n');
    if (end < 0) return source;
    return `${text.slice(0, end + 1)}${HOT_PRELUDE}${text.slice(end + 1)}`;
  }
  return `${HOT_PRELUDE}${text}`;
}

function createHooks(host) {
  function afterResolve(result, context) {
    if (!result || typeof result.url !== 'string' || !result.url.startsWith('file:')) return result;
    // require() keeps its own cache, which reload clears; versions are for ES module URLs.
    if (context && Array.isArray(context.conditions) && context.conditions.includes('require')) return result;
    const file = pathOfUrl(result.url);
    if (!host.isProjectFile(file)) return result;
    const parent = context && context.parentURL;
    const parentFile = parent && parent.startsWith('file:') ? pathOfUrl(parent) : undefined;
    // An edge says that the file was resolved too.
    if (parentFile !== undefined && host.isProjectFile(parentFile)) host.onEdge(parentFile, file);
    else host.onResolved(file);
    const version = host.versionOf(file);
    if (!version) return result;
    return { ...result, url: withVersion(result.url, version) };
  }

  function afterLoad(url, result) {
    if (!result || !url.startsWith('file:') || result.source == null) return result;
    if (result.format !== 'module' && result.format !== 'module-typescript') return result;
    const file = pathOfUrl(url);
    if (!host.isProjectFile(file)) return result;
    host.onLoad(file, 'esm', hashSource(result.source));
    return { ...result, source: withHotPrelude(result.source) };
  }

  return {
    resolveSync(specifier, context, nextResolve) {
      if (specifier === WORKER_SPECIFIER) return { url: workerUrl, shortCircuit: true };
      return afterResolve(nextResolve(specifier, context), context);
    },
    loadSync(url, context, nextLoad) {
      return afterLoad(url, nextLoad(url, context));
    },
    async resolve(specifier, context, nextResolve) {
      if (specifier === WORKER_SPECIFIER) return { url: workerUrl, shortCircuit: true };
      return afterResolve(await nextResolve(specifier, context), context);
    },
    async load(url, context, nextLoad) {
      return afterLoad(url, await nextLoad(url, context));
    },
  };
}

/** File, line and column of the first project frame of an error (query strings removed). */
function locateError(error, isProjectFile) {
  const stack = error && typeof error.stack === 'string' ? error.stack : '';
  // Syntax errors put "file:line" on the first line, before the stack.
  const header = /^(file:\/\/[^\s]+?|\/[^\s:]+?):(\d+)\s*$/m.exec(stack.split('\n')[0] || '');
  const candidates = [];
  if (header) candidates.push([header[1], header[2], undefined]);
  const frame = /(?:^|[\s(])(file:\/\/[^\s)]+?|\/[^\s():]+?):(\d+):(\d+)/gm;
  let match;
  while ((match = frame.exec(stack)) !== null) candidates.push([match[1], match[2], match[3]]);
  for (const [location, line, column] of candidates) {
    let file;
    try {
      file = location.startsWith('file:') ? pathOfUrl(location) : location;
    } catch {
      continue;
    }
    if (!isProjectFile(file) || !fs.existsSync(file)) continue;
    return { file, line: Number(line), column: column === undefined ? undefined : Number(column) };
  }
  return {};
}

module.exports = { isProjectFile, createHooks, pathOfUrl, hashText, hashSource, locateError, withVersion, WORKER_SPECIFIER };
