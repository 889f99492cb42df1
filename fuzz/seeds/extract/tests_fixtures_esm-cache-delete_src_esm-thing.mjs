export const thing = { created: Date.now() };
