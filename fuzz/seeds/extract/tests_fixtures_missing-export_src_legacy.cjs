module.exports = { oldFormat: (d) => String(d) };
