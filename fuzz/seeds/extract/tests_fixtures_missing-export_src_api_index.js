export * from './users.js';
export * from './orders.js';
