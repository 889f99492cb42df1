import { db } from '../lib/db.js';

export function listUsers() {
  return db.users;
}

export function formatUserName(user) {
  return user.name.toUpperCase();
}
