"""The QEMU driver: real VMs behind the same interface as the sim driver (see driver.py)."""
