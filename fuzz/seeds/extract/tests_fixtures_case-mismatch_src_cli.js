'use strict';
const helper = require('./Lib/helper');
const helperOk = require('./lib/helper');
const pad = require('Left-Pad');
const padOk = require('left-pad');

for (const arg of process.argv.slice(2)) {
  console.log(pad(arg, helper.columns()), padOk(arg, helperOk.columns()));
}
