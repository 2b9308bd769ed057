"""minicvm for other projects' tests: a server per test session or `with` block, and a redirect that
sends unchanged code's Tencent Cloud SDK requests to it.

    from minicvm.testing import running

    with running(redirect=True) as cloud:      # unittest, scripts
        my_project.stop_dev_instances()        # builds CvmClient with the default endpoint
        cloud.wait_for(ids, "STOPPED")

Under pytest the `minicvm` fixture (see `minicvm.testing.plugin`) does the same for the whole session."""

from minicvm.testing.redirect import Redirect, UnservedServiceError, redirect
from minicvm.testing.server import GUEST_ADDRESS_WARNING, Account, MiniCvm, ignore_guest_address_warning, pointed_at, running

__all__ = ["GUEST_ADDRESS_WARNING", "Account", "MiniCvm", "Redirect", "UnservedServiceError",
           "ignore_guest_address_warning", "pointed_at", "redirect", "running"]
