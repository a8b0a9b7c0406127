// esbuild entry: exposes the CommonJS JsSIP package as the page's global `JsSIP`.
module.exports = require('jssip');
