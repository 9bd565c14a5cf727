// matrix-appservice-bridge's bot SDK loads @matrix-org/matrix-sdk-crypto-nodejs when it starts,
// even when encryption is off; the real package fetches a native library from GitHub in a
// postinstall script (which npm does not run by default, and test machines may not reach). The test
// bridge never encrypts, so nothing here is ever called; package.json's "overrides" puts this in.
module.exports = {};
