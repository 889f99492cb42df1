import { render } from './c.mjs';

export function route(path) {
  return render(path);
}
