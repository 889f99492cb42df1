'use strict';
const path = require('path');

function refresh() {
  delete require.cache[require.resolve('./esm-thing.mjs')];
  delete require.cache[path.join(__dirname, 'esm2.mjs')];
  delete require.cache[require.resolve('./leaf.cjs')];
  return require('./leaf.cjs');
}

module.exports = { refresh };
