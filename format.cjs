exports.fmt = () => 'v2';
