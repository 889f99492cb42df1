'use strict';
module.exports = { title: (s) => `== ${s} ==` };
