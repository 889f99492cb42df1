import type { Parent } from './x.js';

export interface Child {
  parent: Parent;
}
