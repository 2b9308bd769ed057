// Loaded into Node.js with NODE_OPTIONS="--require <this file>" (see `minicvm.testing.node`): every
// http(s) request to a *.tencentcloudapi.com host goes to minicvm at $MINICVM_ENDPOINT instead, over
// plain HTTP, with its Host header kept (the SDK signed it; minicvm checks the signature over the Host
// as sent). A service not in $MINICVM_SERVICES is refused before any connection is made, so nothing
// reaches the real Tencent Cloud. The Node.js SDK sends through node-fetch, which calls http(s).request.
"use strict";

const http = require("http");
const https = require("https");

const endpoint = process.env.MINICVM_ENDPOINT || "127.0.0.1:4566";
const served = new Set((process.env.MINICVM_SERVICES || "").split(",").filter(Boolean));
const [targetHost, targetPort] = endpoint.split(":");
const DOMAIN = "tencentcloudapi.com";

function isTencent(host) {
  host = String(host || "").toLowerCase().replace(/\.$/, "");
  return host === DOMAIN || host.endsWith("." + DOMAIN);
}

function merged(args) {
  // request(url[, options][, callback]) and request(options[, callback]) as Node accepts them.
  let options = {};
  let rest = args;
  if (typeof args[0] === "string" || args[0] instanceof URL) {
    const url = new URL(args[0]);
    options = { protocol: url.protocol, hostname: url.hostname, port: url.port, path: url.pathname + url.search };
    rest = args.slice(1);
  }
  if (rest.length && typeof rest[0] === "object" && rest[0] !== null) {
    options = Object.assign(options, rest[0]);
    rest = rest.slice(1);
  }
  return [options, rest];
}

function redirected(original) {
  return function request(...args) {
    const [options, rest] = merged(args);
    const host = options.hostname || String(options.host || "").split(":")[0];
    if (!isTencent(host)) {
      return original.apply(this, args);
    }
    const service = host.toLowerCase().split(".")[0];
    if (!served.has(service)) {
      throw new Error(
        `minicvm: this process is redirected to minicvm at ${endpoint}, which does not serve the ` +
        `\`${service}\` service (request for ${host}); it was stopped before leaving the process so that ` +
        `nothing reaches the real Tencent Cloud.`);
    }
    const headers = Object.assign({}, options.headers || {});
    if (!Object.keys(headers).some((name) => name.toLowerCase() === "host")) {
      headers.Host = options.port && !["80", "443"].includes(String(options.port)) ? `${host}:${options.port}` : host;
    }
    const local = Object.assign({}, options, {
      protocol: "http:", hostname: targetHost, host: targetHost, port: Number(targetPort), headers, agent: undefined,
    });
    return http.request(local, ...rest);
  };
}

https.request = redirected(https.request);
http.request = redirected(http.request);
// Node's own get() calls its module-private request(), so it is replaced too.
for (const module of [http, https]) {
  module.get = function get(...args) {
    const req = module.request(...args);
    req.end();
    return req;
  };
}
