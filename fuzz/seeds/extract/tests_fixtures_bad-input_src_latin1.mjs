// café latin-1 comment, not UTF-8
export const menu = 'ÿþ crème brûlée';
import { greet } from './flow.js';
