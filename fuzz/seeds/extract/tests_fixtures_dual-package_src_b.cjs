'use strict';
const d = require('dual');
const w = require('wrapped');
const s = require('single');

d.register('b', 2);
w.hit();
module.exports = { size: () => d.size(), single: s };
