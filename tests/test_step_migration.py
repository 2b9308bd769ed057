"""Upgrading a database whose operations were stored with string steps ("stop:SOFT", "apply", "disk:attach")
and their arguments in params: migration 0006 turns them into typed steps, and a server upgraded with
operations in flight finishes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from minicvm.domain import steps as st
from minicvm.domain.states import StoppedMode, StopType
from minicvm.store.db import MIGRATIONS, make_engine
from minicvm.store.tables import operations
from tests.support.client import Api
from tests.support.server import SECRET_ID, SECRET_KEY, ServerProcess


def _alembic(url: str, verb: str, revision: str) -> None:
    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, verb)(cfg, revision)
        conn.commit()
    engine.dispose()


def _stored_steps(url: str) -> dict[str, list[Any]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(operations.c.id, operations.c.steps)).all()
    engine.dispose()
    return {r.id: r.steps for r in rows}


# As the code before 0006 wrote them: (action, steps, params) → the typed steps they mean.
OLD_ROWS: list[tuple[str, list[str], dict[str, Any], list[st.Step]]] = [
    ("RunInstances", ["launch"], {"prior_state": "PENDING"}, [st.Launch()]),
    ("StartInstances", ["start"], {"prior_state": "STOPPED"}, [st.PowerOn()]),
    ("StopInstances", ["stop:SOFT"], {"StopType": "SOFT", "StoppedMode": "STOP_CHARGING", "prior_state": "RUNNING"},
     [st.PowerOff(StopType.SOFT, StoppedMode.STOP_CHARGING)]),
    ("RebootInstances", ["reboot:HARD"], {"StopType": "HARD"}, [st.Reboot(StopType.HARD)]),
    ("ModifyInstancesAttribute", ["reboot:SOFT_FIRST"], {"reboot": True}, [st.Reboot(StopType.SOFT_FIRST)]),
    ("TerminateInstances", ["destroy"], {"ReleaseAddress": True, "prepaid": False}, [st.Destroy(True)]),
    ("TerminateInstances", ["isolate"], {"ReleaseAddress": False, "prepaid": True}, [st.Isolate()]),
    ("ResetInstancesType", ["stop:SOFT_FIRST", "apply", "start"], {"InstanceType": "S5.LARGE8"},
     [st.PowerOff(StopType.SOFT_FIRST, StoppedMode.KEEP_CHARGING), st.Apply(st.ChangeInstanceType("S5.LARGE8")),
      st.PowerOn()]),
    ("ResizeInstanceDisks", ["apply"], {"disk_sizes": {"disk-abcdefgh": 80}, "ResizeOnline": True},
     [st.Apply(st.GrowDisk("disk-abcdefgh", 80, online=True))]),
    ("ResetInstancesPassword", ["apply"], {"password_hash": "h", "password_changed_at": "t", "login_user": "root"},
     [st.Apply(st.ResetPassword("h", "t", "root"))]),
    ("AssociateInstancesKeyPairs", ["apply"], {"KeyIds": ["skey-abcdefgh"]}, [st.Apply(st.BindKeys(("skey-abcdefgh",)))]),
    ("DisassociateInstancesKeyPairs", ["apply"], {"KeyIds": ["skey-abcdefgh"]},
     [st.Apply(st.UnbindKeys(("skey-abcdefgh",)))]),
    ("AttachDisks", ["disk:attach"], {"instance_id": "ins-abcdefgh"}, [st.AttachDisk("ins-abcdefgh")]),
    ("DetachDisks", ["disk:detach"], {}, [st.DetachDisk()]),
    ("ResizeDisk", ["disk:expand"], {"size": 300}, [st.ExpandDisk(300)]),
    ("AllocateAddresses", ["eip:create"], {}, [st.CreateAddress()]),
    ("AssociateAddress", ["eip:bind"], {}, [st.BindAddress()]),
    ("DisassociateAddress", ["eip:unbind"], {"reallocate": True}, [st.UnbindAddress(True)]),
    ("ReleaseAddresses", ["eip:release"], {}, [st.ReleaseAddress()]),
    ("CreateListener", [], {}, []),
]


def test_every_old_string_step_becomes_its_typed_step(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _alembic(url, "upgrade", "0005")
    engine = make_engine(url)
    with engine.begin() as conn:
        for n, (action, steps, params, _) in enumerate(OLD_ROWS):
            conn.execute(operations.insert().values(
                id=f"op-{n}", request_id="r", account_id=1, resource_id="ins-abcdefgh", action=action, steps=steps,
                step=0, params=params, state="OPERATING", created_time=sa.func.now(), updated_time=sa.func.now()))
    engine.dispose()
    _alembic(url, "upgrade", "head")
    stored = _stored_steps(url)
    for n, (action, _, _, typed) in enumerate(OLD_ROWS):
        assert st.decode_steps(stored[f"op-{n}"]) == typed, action
    # And back: the downgrade writes the old strings again.
    _alembic(url, "downgrade", "0005")
    stored = _stored_steps(url)
    for n, (action, steps, _, _) in enumerate(OLD_ROWS):
        assert stored[f"op-{n}"] == steps, action


def test_a_server_upgraded_with_operations_in_flight_finishes_them(make_server) -> None:
    srv: ServerProcess = make_server(boot_seconds=1.5, shutdown_seconds=3, soft_stop_timeout=20)
    api = Api(srv.endpoint, SECRET_ID, SECRET_KEY)
    ids = api.run(5)
    to_start, to_stop, to_reboot, to_retype, to_terminate = ([i] for i in ids)
    api.cvm("StopInstances", InstanceIds=to_start, StopType="HARD")
    api.wait_state(to_start, "STOPPED")
    launching = api.run(1, wait=False)
    api.cvm("StartInstances", InstanceIds=to_start)
    api.cvm("StopInstances", InstanceIds=to_stop, StopType="SOFT", StoppedMode="STOP_CHARGING")
    api.cvm("RebootInstances", InstanceIds=to_reboot, StopType="SOFT_FIRST")
    api.cvm("ResetInstancesType", InstanceIds=to_retype, InstanceType="S5.LARGE8", ForceStop=True)
    api.cvm("TerminateInstances", InstanceIds=to_terminate, ReleaseAddress=True)
    srv.kill()
    url = srv.database_url or f"sqlite:///{srv.data_dir / 'minicvm.db'}"
    # The database as the code before typed steps left it.
    _alembic(url, "downgrade", "0005")
    in_flight = [s for s in _stored_steps(url).values() if s]
    assert ["stop:SOFT"] in in_flight and ["stop:SOFT_FIRST", "apply", "start"] in in_flight, in_flight
    srv.start()  # migrates to the newest revision, then recovers
    final = api.wait(lambda: (found := api.instances(ids + launching)) and all(
        i["LatestOperationState"] != "OPERATING" for i in found.values()) and found, timeout=60)
    assert set(final) == set(ids + launching) - set(to_terminate)
    expected = {to_start[0]: "RUNNING", to_stop[0]: "STOPPED", to_reboot[0]: "RUNNING", to_retype[0]: "RUNNING",
                launching[0]: "RUNNING"}
    for instance_id, state in expected.items():
        assert (final[instance_id]["InstanceState"], final[instance_id]["LatestOperationState"]) == (state, "SUCCESS")
    assert final[to_stop[0]]["StopChargingMode"] == "STOP_CHARGING"
    assert final[to_retype[0]]["InstanceType"] == "S5.LARGE8"
