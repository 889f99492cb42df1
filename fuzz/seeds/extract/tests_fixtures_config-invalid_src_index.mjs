import { missing } from './nowhere.mjs';
console.log(missing);
