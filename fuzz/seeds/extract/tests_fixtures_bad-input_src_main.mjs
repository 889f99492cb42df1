import { ok, notThere } from './broken.mjs';
import { greet } from './flow.js';
import { menu } from './latin1.mjs';

export function run() {
  return [ok(), notThere, greet({ id: '1' }), menu];
}
