import { formatDay } from './dates.js';

export function report() {
  console.log('report of', formatDay(new Date()));
}
