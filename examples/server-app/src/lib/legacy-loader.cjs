'use strict';
const path = require('node:path');
const { EventEmitter } = require('node:events');
const bus = require('eventbus');

function reloadLegacy() {
  // Pick up edits to the report module without restarting.
  delete require.cache[require.resolve('./report.cjs')];
  // And to the template, which is an ES module.
  delete require.cache[path.join(__dirname, 'template.mjs')];
  const report = require('./report.cjs');
  bus.emit('report', report.render());
  return new EventEmitter();
}

module.exports = { reloadLegacy };
