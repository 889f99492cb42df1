'use strict';
const format = require('./format.cjs');

module.exports = { render: () => format.title('report') };
