// Stand-in for the `debug` package inside the bundle. mqtt-packet calls debug() several
// times per packet; with `debug` itself that cost ~4 % of the server's CPU under MQTT load
// (profiled), for output nobody can switch on in production. Same interface, does nothing.
function createDebug(namespace) {
  const d = () => {};
  d.enabled = false;
  d.namespace = namespace;
  d.log = () => {};
  d.destroy = () => {};
  d.extend = (sub, delimiter = ':') => createDebug(`${namespace}${delimiter}${sub}`);
  return d;
}
createDebug.enable = () => {};
createDebug.disable = () => '';
createDebug.enabled = () => false;
createDebug.names = [];
createDebug.skips = [];
createDebug.formatters = {};
createDebug.debug = createDebug;
createDebug.default = createDebug;
module.exports = createDebug;
