'use strict';
let counter = 0;
module.exports = { next: () => ++counter };
