'use strict';
// A separate program that only requires 'dual'.
const d = require('dual');
d.register('cjs-script', 2);
