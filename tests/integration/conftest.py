# Make the shared helpers and fixtures available to every integration test.
from agvtest import agents  # noqa: F401
