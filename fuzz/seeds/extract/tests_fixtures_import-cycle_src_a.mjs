import { route } from './b.mjs';

export const name = 'a';

export function start() {
  console.log(route('/'));
}
