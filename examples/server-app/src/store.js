export const store = { hits: 0 };
