'use strict';
module.exports = { columns: () => process.stdout.columns || 80 };
