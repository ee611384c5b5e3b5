"""Local emulators of the providers Touchline talks to (SendGrid, Twilio), with an engagement
simulator that posts signed webhooks back and fault injection per run. Nothing here is
imported by Touchline's production code paths."""

from sandbox.client import SandboxClient
from sandbox.server import SandboxServer, ThreadedApp
from sandbox.state import Sandbox, SandboxConfig

__all__ = ["Sandbox", "SandboxClient", "SandboxConfig", "SandboxServer", "ThreadedApp"]
