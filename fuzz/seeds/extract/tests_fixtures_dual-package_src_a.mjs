import d from 'dual';
import w from 'wrapped';
import s from 'single';
import { createRequire } from 'node:module';
import legacy from './b.cjs';

const require = createRequire(import.meta.url);
d.register('a', 1);
console.log(w.hit(), s.id, legacy.size(), require.resolve('./b.cjs'));
