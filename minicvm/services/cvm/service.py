"""The CVM service table; its actions register themselves from the modules beside this one."""

from minicvm.services.registry import service

CVM = service("cvm", "2017-03-12")
