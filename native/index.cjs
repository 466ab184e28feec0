'use strict';
/**
 * @secsess/native: loads the addon built at install (build/Release/secsess_aead.node). A
 * machine that could not build it has no such file: require() then throws, and
 * @secsess/sdk (which loads this package as an optional dependency, checks it with known
 * answers, and falls back) never uses it. See index.d.cts for the functions.
 */
module.exports = require('./build/Release/secsess_aead.node');
