import x from './Utils.js';
import same from './utils.js';

console.log(x.next(), same.next());
