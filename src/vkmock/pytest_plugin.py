"""pytest plugin (registered through the ``pytest11`` entry point): ``--vkmock-base-url`` and friends.

A user's repository can contract-test a deployment from pytest with the fixtures defined here; see the README,
"Contract testing in CI".
"""

from __future__ import annotations

import os
from typing import Any


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("vkmock", "vkmock contract testing")
    group.addoption(
        "--vkmock-base-url",
        default=os.environ.get("VKMOCK_BASE_URL"),
        help="Base URL of the deployment to contract-test (env VKMOCK_BASE_URL).",
    )
