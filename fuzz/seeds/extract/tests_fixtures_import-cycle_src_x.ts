import type { Child } from './y.js';

export interface Parent {
  children: Child[];
}
