'use strict';
module.exports = { flags: { beta: process.env.BETA === '1' } };
