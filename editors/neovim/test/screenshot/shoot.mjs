// Drives `nvim --embed` as a UI, keeps its grid, renders it to HTML and takes a PNG with
// Chromium. Usage: node shoot.mjs <deps dir> <nvim> <out.png> <cols> <rows> -- <nvim args…>
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const [depsDir, nvimPath, out, cols, rows, sep, ...nvimArgs] = process.argv.slice(2);
if (sep !== '--') throw new Error('usage: shoot.mjs <deps> <nvim> <out.png> <cols> <rows> -- <args>');
const require = createRequire(depsDir + '/');
const { attach } = require('neovim');
const { chromium } = require('playwright-core');

const width = Number(cols);
const height = Number(rows);
const grid = Array.from({ length: height }, () => Array.from({ length: width }, () => [' ', 0]));
const attrs = new Map([[0, {}]]);
let colors = { fg: 0xd0d0d0, bg: 0x14161b, sp: 0xff0000 };
let ready = false;

const proc = spawn(nvimPath, ['--embed', ...nvimArgs], { stdio: ['pipe', 'pipe', 'inherit'] });
const nvim = attach({ proc });

const done = new Promise((resolve, reject) => {
  proc.on('exit', (code) => reject(new Error(`nvim exited with ${code} before the screen was ready`)));
  nvim.on('notification', (method, args) => {
    if (method === 'demo_ready') ready = true;
    if (method !== 'redraw') return;
    for (const [name, ...calls] of args) {
      for (const a of calls) {
        if (name === 'default_colors_set') colors = { fg: a[0], bg: a[1], sp: a[2] };
        else if (name === 'hl_attr_define') attrs.set(a[0], a[1]);
        else if (name === 'grid_clear') for (const r of grid) r.fill(null).forEach((_, i) => (r[i] = [' ', 0]));
        else if (name === 'grid_line') {
          const [, row, colStart, cells] = a;
          let col = colStart;
          let hl = 0;
          for (const [text, hlId, repeat] of cells) {
            if (hlId !== undefined) hl = hlId;
            for (let i = 0; i < (repeat ?? 1); i++) {
              if (row < height && col < width) grid[row][col] = [text, hl];
              col++;
            }
          }
        } else if (name === 'grid_scroll') {
          const [, top, bot, left, right, dy] = a;
          const copy = grid.map((r) => r.slice());
          for (let r = top; r < bot; r++) {
            const src = r + dy;
            if (src < top || src >= bot) continue;
            for (let c = left; c < right; c++) grid[r][c] = copy[src][c];
          }
        }
      }
      if (name === 'flush' && ready) resolve();
    }
  });
});

await nvim.uiAttach(width, height, { ext_linegrid: true, rgb: true });
await done;

const hex = (n) => '#' + n.toString(16).padStart(6, '0');
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
function style(id) {
  const a = attrs.get(id) ?? {};
  let fg = a.foreground ?? colors.fg;
  let bg = a.background ?? colors.bg;
  if (a.reverse) [fg, bg] = [bg, fg];
  const css = [`color:${hex(fg)}`, `background:${hex(bg)}`];
  if (a.bold) css.push('font-weight:bold');
  if (a.italic) css.push('font-style:italic');
  const sp = hex(a.special ?? colors.sp);
  if (a.undercurl) css.push(`text-decoration:underline wavy ${sp}`);
  else if (a.underline) css.push(`text-decoration:underline ${sp}`);
  return css.join(';');
}
let body = '';
for (const row of grid) {
  let line = '';
  let i = 0;
  while (i < row.length) {
    const hl = row[i][1];
    let text = '';
    while (i < row.length && row[i][1] === hl) {
      text += row[i][0];
      i++;
    }
    line += `<span style="${style(hl)}">${esc(text)}</span>`;
  }
  body += `<div class="row">${line}</div>`;
}
const html = `<!doctype html><meta charset="utf-8"><style>
body{margin:0;background:${hex(colors.bg)}}
#screen{display:inline-block;padding:8px;background:${hex(colors.bg)};font:14px/18px 'DejaVu Sans Mono',monospace}
.row{white-space:pre;height:18px}
.row span{display:inline-block;height:18px}
</style><div id="screen">${body}</div>`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--host-resolver-rules=MAP * ~NOTFOUND'],
});
const page = await browser.newPage({ deviceScaleFactor: 1 });
await page.setContent(html);
await page.locator('#screen').screenshot({ path: out });
await browser.close();
process.stdout.write(`wrote ${out}\n`);
proc.removeAllListeners('exit');
nvim.quit();
