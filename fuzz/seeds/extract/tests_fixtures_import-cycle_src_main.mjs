import { start } from './a.mjs';
start();
