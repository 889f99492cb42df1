import { formatDate } from './dates.js';
import { greet } from './Greeting.js';

export function run() {
  console.log(greet('world'), formatDate(new Date()));
}
