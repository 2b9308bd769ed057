"""The one exception type that crosses layers; the API layer turns it into the error envelope."""

from __future__ import annotations


class ApiError(Exception):
    """A Tencent-style error: a dotted code and a message a person can act on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def missing(name: str, code: str = "MissingParameter") -> ApiError:
    """`code` narrows the reason where Tencent does (MissingParameter.InScenario: needed in this case)."""
    return ApiError(code, f"The request is missing a required parameter `{name}`.")


def invalid_value(name: str, detail: str, code: str = "InvalidParameterValue") -> ApiError:
    return ApiError(code, f"The value of parameter `{name}` is invalid: {detail}")


def missing_one_of(*names: str, code: str = "MissingParameter") -> ApiError:
    """Parameters each optional on its own, of which the request must give at least one."""
    listed = ", ".join(f"`{n}`" for n in names)
    return ApiError(code, f"The request is missing a required parameter: give at least one of {listed}.")
