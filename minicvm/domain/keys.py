"""SSH key pairs: generation, import checks and fingerprints."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")


def generate(comment: str) -> tuple[str, str]:
    """A fresh RSA pair: (OpenSSH public key with comment, PEM private key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{public.decode()} {comment}", private


def parse_public_key(text: str) -> str | None:
    """The normalised `ssh-rsa AAAA…` part of an OpenSSH RSA public key, or None if it is not one."""
    parts = text.strip().split()
    if len(parts) < 2 or parts[0] != "ssh-rsa":
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
        serialization.load_ssh_public_key(f"ssh-rsa {parts[1]}".encode())
    except (binascii.Error, ValueError):
        return None
    if not blob.startswith(b"\x00\x00\x00\x07ssh-rsa"):
        return None
    return f"ssh-rsa {parts[1]}"


def fingerprint(public_key: str) -> str:
    parts = public_key.split()
    blob = base64.b64decode(parts[1]) if len(parts) > 1 else public_key.encode()
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
