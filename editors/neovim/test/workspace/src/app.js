// A long-running app for the reload test: started with `modgraph run --no-watch -- node
// src/app.js`, it answers "probe" on stdin with what it shows now.
import { render } from './view.js';

let pending = '';
process.stdin.setEncoding('utf8');
const onData = (chunk) => {
  pending += chunk;
  let end;
  while ((end = pending.indexOf('\n')) >= 0) {
    const line = pending.slice(0, end);
    pending = pending.slice(end + 1);
    if (line === 'probe') console.log(`state: ${render()}`);
  }
};
process.stdin.on('data', onData);
// A reload evaluates this module again: the new copy listens instead of this one.
import.meta.hot?.dispose(() => process.stdin.off('data', onData));
console.log(`ready ${process.pid}`);
