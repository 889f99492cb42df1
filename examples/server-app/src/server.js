import { createServer } from 'node:http';
import { listUsers, formatUser } from './routes/users.js';
import { log } from './logger.js';
import { loadConfig } from './config.js';
import bus from 'eventbus';
import ms from 'ms';
import qs from 'querystringify';
import { reloadLegacy } from './lib/legacy-loader.cjs';
import { store } from './store.js';

const config = loadConfig();

export async function loadPlugin(name) {
  // Re-import the plugin after an edit.
  return import(`./plugins/${name}.js?v=${Date.now()}`);
}

export async function loadAuditPlugin() {
  return import('./plugins/audit.js?t=' + Date.now());
}

createServer((req, res) => {
  bus.emit('request', req.url);
  store.hits += 1;
  res.end(JSON.stringify({ users: listUsers().map(formatUser), timeout: ms(config.timeout), q: qs.parse(req.url) }));
}).listen(config.port, () => log(`listening on ${config.port}`));

reloadLegacy();
