// Drives a real VS Code (code-server) through Chromium with the modgraph extension installed.
// Started by test/run, which prepares the folders; prints one line per step and exits non-zero
// with the reason on the first failure. Every wait is for a condition (DOM, file content), with a
// generous time limit; nothing waits for a fixed time.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: opt } = parseArgs({
  options: {
    'code-server': { type: 'string' },
    'user-data-dir': { type: 'string' },
    'extensions-dir': { type: 'string' },
    workspace: { type: 'string' },
    'chromium-profile': { type: 'string' },
    modgraph: { type: 'string' },
    node: { type: 'string' },
    artifacts: { type: 'string' },
  },
});
for (const key of ['code-server', 'user-data-dir', 'extensions-dir', 'workspace', 'chromium-profile', 'modgraph', 'node', 'artifacts']) {
  if (!opt[key]) {
    throw new Error(`missing --${key}`);
  }
}

const LONG = 180_000; // start-up: code-server, the workbench, the extension, indexing
const TIMEOUT = 60_000; // every other condition
const workspace = opt.workspace;
const children = [];
let page;
let context;
let passed = 0;
const t0 = Date.now();

function elapsed() {
  return `${((Date.now() - t0) / 1000).toFixed(1)} s`;
}

const STEP_LIMIT = 300_000; // a step that hangs (a browser that stopped answering) fails

async function step(name, fn) {
  let limit;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        limit = setTimeout(() => reject(new Error(`the step took longer than ${STEP_LIMIT / 1000} s`)), STEP_LIMIT);
      }),
    ]);
  } catch (error) {
    console.log(`not ok - ${name}\n${error && error.stack ? error.stack : error}`);
    if (page) {
      await page.screenshot({ path: path.join(opt.artifacts, 'failure.png') }).catch(() => {});
      const problems = await readProblems().catch(() => []);
      console.log(`problems panel: ${JSON.stringify(problems)}`);
      const toasts = await page.locator('.notifications-toasts').innerText().catch(() => '');
      console.log(`notifications: ${JSON.stringify(toasts)}`);
    }
    await Promise.race([shutdown(), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    process.exit(1);
  } finally {
    clearTimeout(limit);
  }
  passed += 1;
  console.log(`ok ${passed} - ${name} (${elapsed()})`);
}

/** Polls `condition` until it returns a truthy value; `describe` says what was last seen. */
async function until(what, condition, timeout = TIMEOUT, describe = async () => '') {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await condition();
    if (value) {
      return value;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}${await describe().then((d) => (d ? `; last seen: ${d}` : ''))}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function start(command, args, options, log) {
  const out = fs.openSync(log, 'a');
  const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', out, out] });
  children.push(child);
  return child;
}

async function shutdown() {
  if (context) {
    await context.close().catch(() => {});
    context = undefined;
  }
  for (const child of children.reverse()) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {}
    }
  }
}

async function shot(name) {
  await page.screenshot({ path: path.join(opt.artifacts, name) });
}

// --- the workbench --------------------------------------------------------------------------

/** Rows of the Problems panel, in order: `{ file, code, text }` for each problem. */
async function readProblems() {
  const rows = await page.evaluate(() =>
    [...document.querySelectorAll('.markers-panel .monaco-list-row')]
      .sort((a, b) => Number(a.dataset.index) - Number(b.dataset.index))
      .map((row) => ({
        level: row.getAttribute('aria-level'),
        name: (row.querySelector('.label-name') ?? row).textContent.trim(),
        text: row.innerText.replace(/\s+/g, ' ').trim(),
      })),
  );
  const problems = [];
  let file = '';
  for (const row of rows) {
    if (row.level === '1') {
      file = row.name;
    } else {
      const code = /\b((?:stale-import|duplicate-module|module-graph)\/[a-z-]+)/.exec(row.text);
      problems.push({ file, code: code ? code[1] : '', text: row.text });
    }
  }
  return problems;
}

function has(problems, file, code) {
  return problems.some((p) => p.file === file && p.code === code);
}

function summary(problems) {
  return problems.map((p) => `${p.file}: ${p.code || p.text}`).join('; ');
}

async function expectProblems(what, predicate, timeout = TIMEOUT) {
  let last = [];
  await until(
    what,
    async () => {
      const error = page.locator('.notifications-toasts .notification-toast', { hasText: /server was not found|did not start/ });
      if ((await error.count()) > 0) {
        throw new Error(`the extension reports: ${(await error.first().innerText()).replace(/\s+/g, ' ')}`);
      }
      last = await readProblems();
      return predicate(last);
    },
    timeout,
    async () => summary(last),
  );
  return last;
}

async function quickInput(text) {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  // A quick input that is still closing counts as visible but never takes the text: open it
  // again when that happens.
  for (let attempt = 1; ; attempt++) {
    if (!(await input.isVisible())) {
      await page.keyboard.press('F1');
    }
    try {
      await input.waitFor({ state: 'visible', timeout: TIMEOUT / 3 });
      await input.fill(text, { timeout: TIMEOUT / 3 });
      return input;
    } catch (error) {
      if (attempt === 3) {
        throw error;
      }
    }
  }
}

/** Opens a workspace file with Quick Open. */
async function openFile(relative) {
  const name = path.basename(relative);
  await quickInput(relative);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first();
  await row.waitFor({ state: 'visible', timeout: TIMEOUT });
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-widget .quick-input-box input').waitFor({ state: 'hidden', timeout: TIMEOUT });
  await page.locator('.tabs-container .tab.active', { hasText: name }).waitFor({ timeout: TIMEOUT });
  await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().waitFor({ timeout: TIMEOUT });
}

/** Runs a command from the Command Palette by its title. */
async function runCommand(title) {
  await quickInput(`>${title}`);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout: TIMEOUT });
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await page.keyboard.press('Enter');
  // The palette closes, or the command's own quick pick takes its place.
  await until(
    `the Command Palette to run "${title}"`,
    async () => !(await input.isVisible()) || (await input.inputValue()) !== `>${title}`,
  );
}

/** Types `replacement` over the first `text` of the active editor, as a person would: Find
 * selects it, Escape returns to the editor with it selected. The buffer becomes dirty. */
async function typeOver(text, replacement) {
  await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
  await page.keyboard.press('Control+Home');
  await page.keyboard.press('Control+F');
  const find = page.locator('.editor-group-container.active .find-widget.visible textarea').first();
  await find.waitFor({ state: 'visible', timeout: TIMEOUT });
  await find.fill(text);
  await page.locator('.editor-group-container.active .find-widget.visible .matchesCount', { hasText: /^1 of/ }).waitFor({ timeout: TIMEOUT });
  await page.keyboard.press('Escape');
  await page.locator('.editor-group-container.active .monaco-editor.focused').waitFor({ timeout: TIMEOUT });
  await page.keyboard.type(replacement);
  await until(`"${replacement}" in the editor`, async () => (await editorText()).includes(replacement), TIMEOUT, editorText);
}

async function editorText() {
  const text = await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().innerText();
  return text.replace(/\u00a0/g, ' ');
}

async function save(name) {
  await page.keyboard.press('Control+S');
  await page.locator('.tabs-container .tab.active:not(.dirty)', { hasText: name }).waitFor({ timeout: TIMEOUT });
}

async function statusText() {
  return page.locator('.statusbar').innerText().catch(() => '');
}

// --- the run ---------------------------------------------------------------------------------

const port = await freePort();
const codeServer = start(
  opt['code-server'],
  [
    '--bind-addr', `127.0.0.1:${port}`,
    '--auth', 'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--user-data-dir', opt['user-data-dir'],
    '--extensions-dir', opt['extensions-dir'],
    workspace,
  ],
  { env: process.env },
  path.join(opt.artifacts, 'code-server.log'),
);
const url = `http://127.0.0.1:${port}`;
process.on('SIGTERM', () => void shutdown().then(() => process.exit(143)));
// Whatever happens, no code-server or app outlives the test.
process.on('exit', () => {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }
});

await step('code-server answers on 127.0.0.1', async () => {
  await until(
    'code-server /healthz',
    async () => {
      if (codeServer.exitCode !== null) {
        throw new Error(`code-server exited with ${codeServer.exitCode}; see code-server.log`);
      }
      try {
        return (await fetch(`${url}/healthz`)).ok;
      } catch {
        return false;
      }
    },
    LONG,
  );
});

await step('the workbench opens the workspace', async () => {
  context = await chromium.launchPersistentContext(opt['chromium-profile'], {
    executablePath: process.env.MODGRAPH_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1600, height: 1000 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Nothing but loopback: no name resolves except 127.0.0.1 and localhost.
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost',
    ],
  });
  page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${url}/?folder=${encodeURIComponent(workspace)}`);
  await page.locator('.monaco-workbench').waitFor({ timeout: LONG });
  await page.locator('.explorer-folders-view, .explorer-viewlet').first().waitFor({ timeout: LONG });
});

await step('opening a JavaScript file starts the server; Problems lists a missing export and a letter-case mismatch', async () => {
  await openFile('src/main.js');
  await page.keyboard.press('Control+Shift+M');
  await page.locator('.markers-panel').waitFor({ timeout: TIMEOUT });
  await expectProblems(
    'main.js: stale-import/missing-export and duplicate-module/case-mismatch',
    (p) => has(p, 'main.js', 'stale-import/missing-export') && has(p, 'main.js', 'duplicate-module/case-mismatch'),
    LONG,
  );
  await until('the status bar item after indexing', async () => /modgraph/.test(await statusText()) && !/indexing/.test(await statusText()), TIMEOUT, statusText);
  // The squiggle under the mismatched specifier.
  await page.locator('.editor-group-container.active .squiggly-error').first().waitFor({ timeout: TIMEOUT });
  await shot('1-diagnostics.png');
});

await step('the letter-case quick fix rewrites the import and its diagnostic goes away', async () => {
  // A double click opens the file with the cursor on the problem and the focus in the editor.
  await page.locator('.markers-panel .monaco-list-row', { hasText: 'duplicate-module/case-mismatch' }).first().dblclick();
  await page.locator('.editor-group-container.active .monaco-editor.focused').waitFor({ timeout: TIMEOUT });
  await until('the cursor on line 2', async () => /Ln 2, Col/.test(await statusText()), TIMEOUT, statusText);
  // The light bulb VS Code shows for the quick fix at the cursor.
  const bulb = page.locator('.editor-group-container.active .lightBulbWidget').first();
  await bulb.waitFor({ state: 'visible', timeout: TIMEOUT });
  await bulb.click();
  const fix = page.locator('.action-widget .monaco-list-row', { hasText: "'./greeting.js'" }).first();
  await fix.waitFor({ state: 'visible', timeout: TIMEOUT });
  await shot('2a-quick-fix-menu.png');
  await fix.click();
  await until("the import of './greeting.js' in the editor", async () => (await editorText()).includes("'./greeting.js'"), TIMEOUT, editorText);
  await expectProblems(
    'main.js without duplicate-module/case-mismatch, still with stale-import/missing-export',
    (p) => !has(p, 'main.js', 'duplicate-module/case-mismatch') && has(p, 'main.js', 'stale-import/missing-export'),
  );
  await save('main.js');
  await shot('2-quick-fix-applied.png');
});

await step('an unsaved edit of dates.js updates the diagnostics of main.js and report.js (not open)', async () => {
  await openFile('src/dates.js');
  await typeOver('formatDay', 'formatDate');
  await page.locator('.tabs-container .tab.active.dirty', { hasText: 'dates.js' }).waitFor({ timeout: TIMEOUT });
  await expectProblems(
    'report.js: stale-import/missing-export, and none left in main.js',
    (p) => has(p, 'report.js', 'stale-import/missing-export') && !has(p, 'main.js', 'stale-import/missing-export'),
  );
  await shot('3-cross-file.png');
});

const out = path.join(path.dirname(opt['chromium-profile']), 'app-output.txt');
const readOut = () => (fs.existsSync(out) ? fs.readFileSync(out, 'utf8').trim() : '');

await step('an app started with `modgraph run -- node app.mjs` shows up in the status bar', async () => {
  const app = start(
    opt.modgraph,
    ['run', '--no-watch', '--', opt.node, 'app.mjs'],
    { cwd: path.join(workspace, 'app'), env: { ...process.env, E2E_OUT: out } },
    path.join(opt.artifacts, 'app.log'),
  );
  await until('the app to write "version 1"', async () => {
    if (app.exitCode !== null) {
      throw new Error(`the app exited with ${app.exitCode}; see app.log`);
    }
    return readOut() === 'version 1';
  }, TIMEOUT, async () => readOut());
  await until('"1 runtime" in the status bar', async () => /\b1 runtime\b/.test(await statusText()), TIMEOUT, statusText);
});

await step('modgraph: Reload Subgraph of Current File reloads the saved change inside the app', async () => {
  await openFile('app/message.mjs');
  await typeOver('version 1', 'version 2');
  await save('message.mjs');
  // The app does not watch files: the server sees its code outdated, the app still runs v1.
  await expectProblems('message.mjs: stale-import/runtime-outdated', (p) => has(p, 'message.mjs', 'stale-import/runtime-outdated'));
  if (readOut() !== 'version 1') {
    throw new Error(`the app changed before the reload: ${readOut()}`);
  }
  await runCommand('modgraph: Reload Subgraph of Current File');
  const toast = page.locator('.notifications-toasts .notification-toast', { hasText: /reloaded \d+ modules?/ }).first();
  await toast.waitFor({ state: 'visible', timeout: TIMEOUT });
  await until('the app to write "version 2"', async () => readOut() === 'version 2', TIMEOUT, async () => readOut());
  await expectProblems('no stale-import/runtime-outdated', (p) => !p.some((x) => x.code === 'stale-import/runtime-outdated'));
  console.log(`  notification: ${(await toast.innerText()).replace(/\s+/g, ' ')}`);
  await shot('4-reload.png');
});

await step('modgraph: Show Module Graph draws the modules around main.js with the bundled Mermaid', async () => {
  await openFile('src/main.js');
  await runCommand('modgraph: Show Module Graph');
  await page.locator('.tabs-container .tab.active', { hasText: 'Module graph' }).waitFor({ timeout: TIMEOUT });
  const frame = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
  try {
    await frame.locator('#graph[data-rendered="true"] svg').waitFor({ timeout: TIMEOUT });
  } catch (error) {
    const shown = await frame.locator('body').innerText({ timeout: 5_000 }).catch((e) => `(no webview text: ${e.message})`);
    const frames = await page.locator('iframe.webview').count();
    throw new Error(`${error.message}\nwebview frames: ${frames}; the panel shows: ${shown}`);
  }
  const labels = await frame.locator('#graph svg g.node').allTextContents();
  for (const wanted of ['src/main.js', 'src/index.js', 'src/dates.js', 'src/greeting.js']) {
    if (!labels.some((l) => l.includes(wanted))) {
      throw new Error(`the graph has no node ${wanted}: ${JSON.stringify(labels)}`);
    }
  }
  await shot('5-module-graph.png');
});

await step('modgraph: List Attached Runtimes and Show Dependents list the app and the importers', async () => {
  // From a text editor, as a person runs it: with the graph's webview active, VS Code hands focus
  // back to the webview after the palette closes, and that late focus closes the quick pick.
  await openFile('src/greeting.js');
  await runCommand('modgraph: List Attached Runtimes');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: /node \d+/ }).first().waitFor({ timeout: TIMEOUT });
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'app.mjs' }).first().waitFor({ timeout: TIMEOUT });
  await page.keyboard.press('Escape');
  await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: TIMEOUT });
  await runCommand('modgraph: Show Dependents');
  const title = page.locator('.quick-input-widget .quick-input-title', { hasText: 'import src/greeting.js' });
  await title.waitFor({ timeout: TIMEOUT });
  for (const importer of ['src/main.js', 'src/index.js']) {
    await page.locator('.quick-input-list .monaco-list-row', { hasText: importer }).first().waitFor({ timeout: TIMEOUT });
  }
  await shot('6-dependents.png');
  await page.keyboard.press('Escape');
});

/** The extension's log (its output channel), as VS Code writes it. */
function extensionLog() {
  const found = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(full);
      } else if (/modgraph.*\.log$/.test(entry.name)) {
        found.push(fs.readFileSync(full, 'utf8'));
      }
    }
  };
  walk(path.join(opt['user-data-dir'], 'logs'));
  return found.join('\n');
}

await step('a rule level set in the settings reaches the running server; removing it brings modgraph.json back', async () => {
  // The workspace's settings, as "Preferences: Open Workspace Settings (JSON)" would write them.
  fs.mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
  const file = path.join(workspace, '.vscode', 'settings.json');
  fs.writeFileSync(file, JSON.stringify({ 'modgraph.rules': { 'stale-import/missing-export': 'off' } }, null, 2));
  await expectProblems('no stale-import/missing-export in report.js', (p) => !has(p, 'report.js', 'stale-import/missing-export'));
  const starts = (extensionLog().match(/starting .* lsp --stdio/g) ?? []).length;
  if (starts !== 1) {
    throw new Error(`the server was started ${starts} times; the setting should reach it without a restart`);
  }
  await until('the settings in the log', async () => /settings changed: .*"stale-import\/missing-export":"off"/.test(extensionLog()));
  fs.writeFileSync(file, '{}\n');
  await expectProblems('stale-import/missing-export in report.js again', (p) => has(p, 'report.js', 'stale-import/missing-export'));
});

await shutdown();
console.log(`all ${passed} steps passed in ${elapsed()}`);
process.exit(0);
