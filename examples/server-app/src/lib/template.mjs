export const template = (body) => `<html><body>${body}</body></html>`;
