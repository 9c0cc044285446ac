"""pytest plugin (registered through the ``pytest11`` entry point): contract-test a deployment from pytest.

Options (each also from the environment, so CI can set them once)::

    --vkmock-base-url URL        deployment to test          (VKMOCK_BASE_URL or VKMOCK_CONTRACT_BASE_URL;
                                                              default http://localhost:8080)
    --vkmock-bifrost 1.4|1.5|auto  the deployment's API      (VKMOCK_CONTRACT_BIFROST; default 1.4)
    --vkmock-token TOKEN         Bearer credentials          (VKMOCK_CONTRACT_TOKEN)
    --vkmock-basic USER:PASS     Basic credentials           (VKMOCK_CONTRACT_BASIC)
    --vkmock-allow-writes        also POST/PUT/DELETE and the stateful phase (keys named vkmock-contract-*,
                                 deleted at the end)
    --vkmock-max-examples N      test cases per operation (default 25)
    --vkmock-seed S              reproducible run
    --vkmock-report FORMAT:PATH  junit:PATH or json:PATH, repeatable

The ``vkmock_contract`` fixture (session scope) runs the same suite as ``vkmock contract`` and the same probes
as ``vkmock drift``. A complete test module in a user's repository::

    # tests/test_bifrost_contract.py
    def test_bifrost_honours_the_contract(vkmock_contract):
        vkmock_contract.run().assert_passed()

    def test_bifrost_has_not_drifted(vkmock_contract):
        vkmock_contract.assert_no_drift()

    $ pytest tests/test_bifrost_contract.py --vkmock-base-url https://bifrost.staging.example.com

The ``vkmock_serve`` fixture starts the mock itself for a test (an e2e test of a frontend, say) and stops it
at the end::

    def test_the_budget_page_shows_exhausted_keys(vkmock_serve):
        mock = vkmock_serve("--fixture", "exhausted", "--no-auth")
        ...  # point the frontend at mock.url

Credentials never appear in the assertion messages. The module imports nothing heavy until a test uses the
fixture, so having vkmock installed costs other pytest sessions nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from vkmock.check.contract import ContractOptions, ContractResult
    from vkmock.check.drift import DriftReport
    from vkmock.launch import Launched


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("vkmock", "vkmock contract testing")
    group.addoption(
        "--vkmock-base-url",
        default=os.environ.get("VKMOCK_BASE_URL") or os.environ.get("VKMOCK_CONTRACT_BASE_URL"),
        help="Base URL of the deployment to contract-test (env VKMOCK_BASE_URL). [default: http://localhost:8080]",
    )
    group.addoption(
        "--vkmock-bifrost",
        default=os.environ.get("VKMOCK_CONTRACT_BIFROST") or "1.4",
        choices=("1.4", "1.5", "auto"),
        help="The Bifrost API the deployment speaks; auto asks it (GET /api/version) "
        "(env VKMOCK_CONTRACT_BIFROST). [default: 1.4]",
    )
    group.addoption(
        "--vkmock-token",
        default=os.environ.get("VKMOCK_CONTRACT_TOKEN"),
        help="Bearer token for the deployment (env VKMOCK_CONTRACT_TOKEN).",
    )
    group.addoption(
        "--vkmock-basic",
        default=os.environ.get("VKMOCK_CONTRACT_BASIC"),
        metavar="USER:PASS",
        help="Basic credentials for the deployment (env VKMOCK_CONTRACT_BASIC).",
    )
    group.addoption(
        "--vkmock-allow-writes",
        action="store_true",
        default=False,
        help="Also test POST/PUT/DELETE and the stateful phase (keys named vkmock-contract-*, "
        "deleted at the end).",
    )
    group.addoption(
        "--vkmock-max-examples", type=int, default=25, help="Test cases per operation (default 25)."
    )
    group.addoption("--vkmock-seed", type=int, default=None, help="Seed for a reproducible contract run.")
    group.addoption(
        "--vkmock-report",
        action="append",
        default=[],
        metavar="FORMAT:PATH",
        help="Write a report of the contract run: junit:PATH or json:PATH (repeatable).",
    )


@dataclass
class VkmockContract:
    """What the ``vkmock_contract`` fixture gives a test: the configured target and two ways to check it."""

    options: ContractOptions

    @property
    def base_url(self) -> str:
        return self.options.base_url

    def run(self, **overrides: Any) -> ContractResult:
        """Run the contract suite (``vkmock contract``); keyword arguments override the command-line options,
        e.g. ``run(max_examples=10, checks=("count_matches_list",))``."""
        from vkmock.check.contract import run_contract

        for name in ("checks", "exclude_checks", "phases", "reports"):
            if isinstance(overrides.get(name), str):
                overrides[name] = (overrides[name],)
        return run_contract(replace(self.options, **overrides))

    def drift(self, allowlist: str | None = None, max_keys: int = 25) -> DriftReport:
        """Probe the deployment like ``vkmock drift``; a usage or connection problem fails the test."""
        from vkmock.check.drift import run_drift
        from vkmock.check.http import ConnectionProblem, Credentials, UsageError

        o = self.options
        try:
            return run_drift(o.base_url, o.token, o.basic, allowlist, max_keys, o.request_timeout, o.bifrost)
        except (UsageError, ConnectionProblem) as exc:
            message = Credentials(o.token or None, o.basic if o.basic and ":" in o.basic else None).redact(
                str(exc)
            )
            pytest.fail(f"vkmock drift could not run: {message}", pytrace=False)

    def assert_no_drift(self, allowlist: str | None = None, max_keys: int = 25) -> None:
        __tracebackhide__ = True
        report = self.drift(allowlist, max_keys)
        if report.differences:
            pytest.fail(report.text(), pytrace=False)


@pytest.fixture(scope="session")
def vkmock_contract(request: Any) -> VkmockContract:
    """The deployment named by ``--vkmock-base-url`` and friends; see this module's docstring."""
    from vkmock.check.contract import DEFAULT_BASE_URL, ContractOptions

    get = request.config.getoption
    return VkmockContract(
        ContractOptions(
            base_url=get("--vkmock-base-url") or DEFAULT_BASE_URL,
            token=get("--vkmock-token") or None,
            basic=get("--vkmock-basic") or None,
            allow_writes=bool(get("--vkmock-allow-writes")),
            max_examples=get("--vkmock-max-examples"),
            seed=get("--vkmock-seed"),
            reports=tuple(get("--vkmock-report") or ()),
            bifrost=get("--vkmock-bifrost"),
        )
    )


@pytest.fixture
def vkmock_serve(tmp_path_factory: Any) -> Iterator[Callable[..., Launched]]:
    """Start a real ``vkmock serve`` for a test: ``vkmock_serve("--fixture", "exhausted")`` returns the running
    server (``.url``, ``.port``, ``.output``); it listens on 127.0.0.1 on a free port and is stopped, with its
    workers, when the test ends. A server that cannot start fails the test with its output."""
    from vkmock.launch import LaunchError, launch, serve_command

    started: list[Launched] = []

    def start(*args: str, timeout: float = 30.0) -> Launched:
        log = tmp_path_factory.mktemp("vkmock-serve") / "serve.log"
        try:
            server = launch(serve_command(*args), log, timeout=timeout)
        except LaunchError as exc:
            problem = str(exc)
        else:
            started.append(server)
            return server
        pytest.fail(problem, pytrace=False)  # outside the except: no chained traceback in the report

    yield start
    for server in started:
        server.stop()
