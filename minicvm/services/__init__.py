"""One package per Tencent service; importing `load()` registers every action."""


def load() -> None:
    from minicvm.services.autoscaling import groups, launch_configs, members  # noqa: F401
    from minicvm.services.cam import groups as cam_groups  # noqa: F401
    from minicvm.services.cam import policies, roles, users  # noqa: F401
    from minicvm.services.cbs import handlers as cbs_handlers  # noqa: F401
    from minicvm.services.clb import listeners, loadbalancers, targets  # noqa: F401
    from minicvm.services.cloudaudit import events  # noqa: F401
    from minicvm.services.cvm import (  # noqa: F401
        catalog,
        inquiries,
        instance_info,
        instances,
        keypairs,
        launch,
        security_groups,
        stopped_changes,
        vnc,
    )
    from minicvm.services.sts import assume, identity  # noqa: F401
    from minicvm.services.tag import actions  # noqa: F401
    from minicvm.services.tat import handlers as tat_handlers  # noqa: F401
    from minicvm.services.vpc import handlers as vpc_handlers  # noqa: F401
    from minicvm.services.vpc import sg_handlers  # noqa: F401
