import { stamp } from './util.mjs';

export function helper(msg) {
  console.log(stamp(), msg);
}
