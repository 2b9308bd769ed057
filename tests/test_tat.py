"""TAT through the official Python SDK's typed client and through tccli: commands run in the guest
(sim: its small shell), output base64 with the exit code, timeouts, the agent online only while the
guest OS is up, runs refused on a stopped instance, and a crash mid-invocation ending clearly."""

from __future__ import annotations

import base64
import time

import pytest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tat.v20201028 import models, tat_client

from tests.support.client import Api, tccli_json
from tests.support.server import SECRET_ID, SECRET_KEY, ServerProcess


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def tat(server: ServerProcess) -> tat_client.TatClient:
    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=server.endpoint, reqTimeout=30))
    return tat_client.TatClient(credential.Credential(SECRET_ID, SECRET_KEY), "ap-guangzhou", profile)


def request(model: type, **fields: object):  # type: ignore[no-untyped-def]
    req = model()
    req._deserialize(fields)
    return req


def wait_task(client: tat_client.TatClient, invocation_id: str, timeout: float = 20) -> models.InvocationTask:
    deadline = time.monotonic() + timeout
    while True:
        tasks = client.DescribeInvocationTasks(request(
            models.DescribeInvocationTasksRequest, HideOutput=False,
            Filters=[{"Name": "invocation-id", "Values": [invocation_id]}])).InvocationTaskSet
        if tasks and tasks[0].TaskStatus not in ("PENDING", "DELIVERING", "RUNNING"):
            return tasks[0]
        assert time.monotonic() < deadline, f"task still {tasks[0].TaskStatus if tasks else None}"
        time.sleep(0.1)


def agent(client: tat_client.TatClient, instance_id: str) -> str:
    found = client.DescribeAutomationAgentStatus(request(models.DescribeAutomationAgentStatusRequest,
                                                         InstanceIds=[instance_id])).AutomationAgentSet
    return found[0].AgentStatus


def test_run_command_output_exit_code_and_agent(api: Api, server: ServerProcess) -> None:
    client = tat(server)
    (instance_id,) = api.run(1)
    assert agent(client, instance_id) == "Online"
    run = client.RunCommand(request(models.RunCommandRequest, InstanceIds=[instance_id],
                                    Content=b64("echo from tat > /disk/t\ncat /disk/t\nhostname\nexit 7")))
    task = wait_task(client, run.InvocationId)
    assert (task.TaskStatus, task.TaskResult.ExitCode) == ("FAILED", 7)  # a non-zero exit code is FAILED
    out = base64.b64decode(task.TaskResult.Output).decode().splitlines()
    assert out[0] == "from tat" and out[1] == api.instance(instance_id)["HostName"]
    inv = client.DescribeInvocations(request(models.DescribeInvocationsRequest,
                                             InvocationIds=[run.InvocationId])).InvocationSet[0]
    assert inv.InvocationStatus == "FAILED" and inv.InvocationTaskBasicInfoSet[0].InstanceId == instance_id
    hidden = client.DescribeInvocationTasks(request(models.DescribeInvocationTasksRequest,
                                                    InvocationTaskIds=[task.InvocationTaskId])).InvocationTaskSet[0]
    assert hidden.TaskResult.Output == ""  # HideOutput defaults to true

    ok = wait_task(client, client.RunCommand(request(models.RunCommandRequest, InstanceIds=[instance_id],
                                                     Content=b64("cat /disk/t"))).InvocationId)
    assert (ok.TaskStatus, ok.TaskResult.ExitCode, base64.b64decode(ok.TaskResult.Output)) == ("SUCCESS", 0,
                                                                                                b"from tat\n")
    slow = wait_task(client, client.RunCommand(request(models.RunCommandRequest, InstanceIds=[instance_id],
                                                       Content=b64("sleep 30"), Timeout=1)).InvocationId)
    assert slow.TaskStatus == "TIMEOUT"

    running = client.RunCommand(request(models.RunCommandRequest, InstanceIds=[instance_id], Content=b64("sleep 30")))
    api.wait(lambda: client.DescribeInvocations(request(models.DescribeInvocationsRequest,
                                                        InvocationIds=[running.InvocationId]))
             .InvocationSet[0].InvocationStatus == "RUNNING")
    api.cvm("StopInstances", InstanceIds=[instance_id], StopType="HARD")
    api.wait_state([instance_id], "STOPPED")
    cut = wait_task(client, running.InvocationId)
    assert cut.TaskStatus == "TASK_TIMEOUT" and "went off" in cut.ErrorInfo  # the agent went with the OS
    assert agent(client, instance_id) == "Offline"
    with pytest.raises(TencentCloudSDKException) as refused:
        client.RunCommand(request(models.RunCommandRequest, InstanceIds=[instance_id], Content=b64("hostname")))
    assert refused.value.code == "ResourceUnavailable.InstanceStateNotRunning"


def test_saved_command_invoked_with_tccli(api: Api, server: ServerProcess) -> None:
    (instance_id,) = api.run(1)
    name = f"greet{time.monotonic_ns() % 10**8}"
    args = (server.endpoint, SECRET_ID, SECRET_KEY, "tat")
    command_id = tccli_json(*args, "CreateCommand", "--CommandName", name, "--Content", b64("echo hi"))["CommandId"]
    dup = api.error("tat", "CreateCommand", CommandName=name, Content=b64("echo again"))
    assert dup.code == "InvalidParameterValue.CommandNameDuplicated"
    listed = tccli_json(*args, "DescribeCommands", "--CommandIds", f'["{command_id}"]')["CommandSet"]
    assert [(c["CommandName"], c["Content"]) for c in listed] == [(name, b64("echo hi"))]
    invocation_id = tccli_json(*args, "InvokeCommand", "--CommandId", command_id,
                               "--InstanceIds", f'["{instance_id}"]')["InvocationId"]
    task = wait_task(tat(server), invocation_id)
    assert (task.TaskStatus, base64.b64decode(task.TaskResult.Output)) == ("SUCCESS", b"hi\n")
    assert task.CommandId == command_id and task.CommandDocument.Content == b64("echo hi")
    tccli_json(*args, "DeleteCommand", "--CommandId", command_id)
    assert api.error("tat", "InvokeCommand", CommandId=command_id,
                     InstanceIds=[instance_id]).code == "ResourceNotFound.CommandNotFound"
    assert api.error("tat", "RunCommand", Content=b64("hostname"),
                     InstanceIds=["ins-nothere0"]).code == "ResourceNotFound.InstanceNotFound"
    assert api.error("tat", "RunCommand", Content="not base64!",
                     InstanceIds=[instance_id]).code == "InvalidParameterValue.InvalidContent"


def test_poweroff_through_tat_and_a_crash_mid_invocation(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server()
    api = Api(server.endpoint, SECRET_ID, SECRET_KEY)
    client = tat(server)
    (instance_id,) = api.run(1)
    off = wait_task(client, client.RunCommand(request(models.RunCommandRequest, InstanceIds=[instance_id],
                                                      Content=b64("poweroff"))).InvocationId)
    assert off.TaskStatus == "SUCCESS"
    api.wait_state([instance_id], "STOPPED", timeout=5)  # the guest powered itself off

    api.cvm("StartInstances", InstanceIds=[instance_id])
    api.wait_state([instance_id], "RUNNING")
    run = client.RunCommand(request(models.RunCommandRequest, InstanceIds=[instance_id], Content=b64("sleep 60")))
    api.wait(lambda: client.DescribeInvocations(request(models.DescribeInvocationsRequest,
                                                        InvocationIds=[run.InvocationId]))
             .InvocationSet[0].InvocationStatus == "RUNNING")
    server.kill()
    server.start()
    task = wait_task(client, run.InvocationId, timeout=5)
    assert task.TaskStatus == "TASK_TIMEOUT" and "restarted" in task.ErrorInfo
    inv = client.DescribeInvocations(request(models.DescribeInvocationsRequest,
                                             InvocationIds=[run.InvocationId])).InvocationSet[0]
    assert inv.InvocationStatus == "FAILED" and inv.EndTime
