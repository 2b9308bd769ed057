// The shutdown story (run three, soft stop one, a refused batch stop, only-while-stopped changes, start, filters
// and paging, terminate) through the official Node.js SDK, configured the way the SDK expects:
// profile.httpProfile.endpoint = "127.0.0.1:PORT", protocol "http://". Run by tests/test_node_sdk.py.
"use strict";

const assert = require("node:assert/strict");
const tencentcloud = require("tencentcloud-sdk-nodejs-cvm");
const { CommonClient } = require("tencentcloud-sdk-nodejs-common");

const CvmClient = tencentcloud.cvm.v20170312.Client;
const clientConfig = {
  credential: { secretId: process.env.MINICVM_SECRET_ID, secretKey: process.env.MINICVM_SECRET_KEY },
  region: "ap-guangzhou",
  profile: { httpProfile: { endpoint: process.env.MINICVM_ENDPOINT, protocol: "http://" }, language: "en-US" },
};
const client = new CvmClient(clientConfig);
// The global services, as tools call them first; the SDK names the scope after the endpoint (`127`) here too.
const sts = new CommonClient("sts.tencentcloudapi.com", "2018-08-13", { ...clientConfig, region: "" });
const tag = new CommonClient("tag.tencentcloudapi.com", "2018-08-13", { ...clientConfig, region: "" });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const step = (what) => console.log(`ok - ${what}`);

async function describe(ids) {
  const out = await client.DescribeInstances({ InstanceIds: ids, Limit: 100 });
  return Object.fromEntries(out.InstanceSet.map((i) => [i.InstanceId, i]));
}

async function waitFor(ids, state) {
  const deadline = Date.now() + 30000;
  for (;;) {
    const found = await describe(ids);
    const done = ids.every((id) => found[id] && found[id].InstanceState === state
      && found[id].LatestOperationState !== "OPERATING");
    if (done) return found;
    assert.ok(Date.now() < deadline, `instances ${ids} did not reach ${state}`);
    await sleep(100);
  }
}

async function refusal(call) {
  try {
    await call();
  } catch (err) {
    return err;
  }
  assert.fail("the call unexpectedly succeeded");
}

async function main() {
  const who = await sts.request("GetCallerIdentity", {});
  assert.equal(who.Type, "CAMUser");
  step("sts GetCallerIdentity");

  const name = `node-${Date.now()}`;
  const run = await client.RunInstances({
    Placement: { Zone: "ap-guangzhou-3" }, ImageId: "img-eb30mz89", InstanceType: "S5.MEDIUM4",
    InstanceCount: 3, InstanceName: name, SystemDisk: { DiskType: "CLOUD_PREMIUM", DiskSize: 50 },
    DataDisks: [{ DiskType: "CLOUD_PREMIUM", DiskSize: 50 }],
  });
  const ids = run.InstanceIdSet;
  assert.equal(ids.length, 3);
  await waitFor(ids, "RUNNING");
  step("run 3 instances, all RUNNING");

  const [stopped, other, third] = ids;
  await client.StopInstances({ InstanceIds: [stopped], StopType: "SOFT", StoppedMode: "KEEP_CHARGING" });
  await waitFor([stopped], "STOPPED");
  step("soft stop of one instance");

  const err = await refusal(() => client.StopInstances({ InstanceIds: [other, stopped], StopType: "SOFT" }));
  assert.equal(err.code, "UnsupportedOperation.InstanceStateStopped");
  assert.ok(err.message.includes(stopped), err.message);
  assert.ok(!err.message.includes(other), err.message);
  assert.ok(err.requestId);
  assert.equal((await describe([other]))[other].InstanceState, "RUNNING");
  step("a batch stop that includes a stopped instance is refused whole, naming it");

  await client.ResetInstancesType({ InstanceIds: [stopped], InstanceType: "S5.LARGE8" });
  let inst = (await waitFor([stopped], "STOPPED"))[stopped];
  assert.equal(inst.InstanceType, "S5.LARGE8");
  const dataDisk = inst.DataDisks[0].DiskId;
  await client.ResizeInstanceDisks({ InstanceId: stopped, DataDisks: [{ DiskId: dataDisk, DiskSize: 100 }] });
  inst = (await waitFor([stopped], "STOPPED"))[stopped];
  assert.equal(inst.DataDisks[0].DiskSize, 100);
  await client.ResetInstancesPassword({ InstanceIds: [stopped], Password: "Passw0rd!node" });
  await waitFor([stopped], "STOPPED");
  const running = await refusal(() => client.ResetInstancesType({ InstanceIds: [other], InstanceType: "S5.LARGE8" }));
  assert.equal(running.code, "UnsupportedOperation.InstanceStateRunning");
  step("only-while-stopped changes on the stopped instance, refused on a running one");

  await client.StartInstances({ InstanceIds: [stopped] });
  inst = (await waitFor([stopped], "RUNNING"))[stopped];
  assert.equal(inst.CPU, 4);
  step("start again with the new type");

  const byName = await client.DescribeInstances({
    Filters: [{ Name: "instance-name", Values: [name] }, { Name: "instance-state", Values: ["RUNNING"] }],
    Limit: 2, Offset: 0,
  });
  assert.equal(byName.TotalCount, 3);
  assert.equal(byName.InstanceSet.length, 2);
  const rest = await client.DescribeInstances({ Filters: [{ Name: "instance-name", Values: [name] }], Limit: 2, Offset: 2 });
  assert.equal(rest.InstanceSet.length, 1);
  const seen = new Set([...byName.InstanceSet, ...rest.InstanceSet].map((i) => i.InstanceId));
  assert.deepEqual([...seen].sort(), [...ids].sort());
  const status = await client.DescribeInstancesStatus({ InstanceIds: [third] });
  assert.equal(status.InstanceStatusSet[0].InstanceState, "RUNNING");
  step("filters and paging");

  const resource = `qcs::cvm:ap-guangzhou:uin/${who.AccountId}:instance/${third}`;
  const tagged = await tag.request("TagResources", { ResourceList: [resource], Tags: [{ TagKey: "via", TagValue: "node" }] });
  assert.deepEqual(tagged.FailedResources, []);
  const byTag = await client.DescribeInstances({ Filters: [{ Name: "tag:via", Values: ["node"] }] });
  assert.deepEqual(byTag.InstanceSet.map((i) => i.InstanceId), [third]);
  step("a tag bound through the Tag service filters DescribeInstances");

  await client.TerminateInstances({ InstanceIds: ids });
  const deadline = Date.now() + 30000;
  while (Object.keys(await describe(ids)).length > 0) {
    assert.ok(Date.now() < deadline, "instances were not terminated");
    await sleep(100);
  }
  step("terminate");
}

main().then(
  () => console.log("story: done"),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
