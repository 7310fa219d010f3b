"""Who may reach the app: beyond this machine only with a password, checked in constant time. Plain Python, so the
CLI's refusal and the web login share one rule and one comparison."""

from __future__ import annotations

import hmac
import ipaddress

from pydantic import SecretStr

from ui.service.errors import ServiceError

PASSWORD_VARIABLE = "SIMULACRA_PASSWORD"


def is_loopback(host: str) -> bool:
    """Whether an address to bind reaches this machine only: localhost, 127.0.0.0/8 or ::1."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or 0.0.0.0-like wildcard: other machines may reach it


def check_exposure(host: str, password: SecretStr | None) -> None:
    """Raises ServiceError when the app would listen beyond this machine without a password."""
    if password is None and not is_loopback(host):
        raise ServiceError(
            f"--host {host} lets other machines reach the app: set {PASSWORD_VARIABLE} (in the environment or .env)"
            " first, and every browser will be asked for it"
        )


def password_matches(given: str, expected: SecretStr) -> bool:
    """Constant-time comparison of UTF-8 bytes, so the time taken says nothing about how much was right."""
    return hmac.compare_digest(given.encode("utf-8"), expected.get_secret_value().encode("utf-8"))
