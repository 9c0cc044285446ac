"""vkmock: a mock and contract-test server for Bifrost's governance virtual-keys API."""

from vkmock.app import create_app
from vkmock.settings import Settings

__all__ = ["Settings", "create_app"]
__version__ = "0.1.0"
