export * from './a.js';
export const beta = 'b';
