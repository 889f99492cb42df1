'use strict';
const { refresh } = require('./hot.js');

setInterval(refresh, 5000).unref();
