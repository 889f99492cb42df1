export * from './b.js';
export const alpha = 'a';
