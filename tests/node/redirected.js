// A user's unchanged Node.js code: clients with the SDK's default endpoints (cvm.tencentcloudapi.com over
// HTTPS) and credentials from the environment. tests/test_testing_plugin.py runs it with minicvm's loader
// preloaded (NODE_OPTIONS) and expects it to reach minicvm, and a service minicvm does not serve to fail
// before any connection.
"use strict";

const assert = require("node:assert/strict");
const net = require("node:net");
const { CommonClient } = require("tencentcloud-sdk-nodejs-common");
const tencentcloud = require("tencentcloud-sdk-nodejs-cvm");

const options = {
  credential: { secretId: process.env.TENCENTCLOUD_SECRET_ID, secretKey: process.env.TENCENTCLOUD_SECRET_KEY },
  region: process.env.TENCENTCLOUD_REGION,
};

async function main() {
  const cvm = new tencentcloud.cvm.v20170312.Client(options);
  const found = await cvm.DescribeInstances({ InstanceIds: process.argv.slice(2), Limit: 100 });
  console.log(`instances: ${found.InstanceSet.map((i) => i.InstanceId).join(" ")}`);

  const connects = [];
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function watched(...args) {
    connects.push(args[0]);
    return connect.apply(this, args);
  };
  const cdb = new CommonClient("cdb.tencentcloudapi.com", "2017-03-20", options);
  await assert.rejects(cdb.request("DescribeDBInstances", {}), /does not serve the `cdb` service/);
  assert.deepEqual(connects, []);
  console.log("unserved: refused before connecting");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
