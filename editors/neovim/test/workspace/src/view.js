import { greet } from './greeting.js';

// Computed once, when the module is evaluated: it changes only if a reload evaluates it again.
const banner = greet('app');

export const render = () => `view(${banner})`;
