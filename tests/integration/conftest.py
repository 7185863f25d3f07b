# Make the shared helpers and fixtures available to every integration test.
from agvtest import agents  # noqa: F401
from credtest import endpoint  # noqa: F401  (the Roles Anywhere stand-in)
