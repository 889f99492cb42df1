export const defaults = { port: 3000, timeout: '5s' };
