import { name } from './a.mjs';

export function render(path) {
  return `${name}:${path}`;
}
