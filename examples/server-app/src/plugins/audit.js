import { log } from '../lib/logger.js';
import { db } from '../lib/db.js';

export function audit() {
  log(`users: ${db.users.length}`);
}
