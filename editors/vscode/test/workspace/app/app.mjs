// A long-running app: writes what message() returns to $E2E_OUT every 100 ms (write, then
// rename, so that a reader never sees a half-written file).
import { renameSync, writeFileSync } from 'node:fs';
import { message } from './message.mjs';

const out = process.env.E2E_OUT;
const timer = setInterval(() => {
  writeFileSync(`${out}.tmp`, `${message()}\n`);
  renameSync(`${out}.tmp`, out);
}, 100);
import.meta.hot?.dispose(() => clearInterval(timer));
console.log('app started');
