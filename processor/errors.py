"""Errors a user can cause and fix, each with the exit code the command line returns for it.

Code inside the package raises these; ``cli`` prints their message (never a traceback) and exits
with ``exit_code``. Anything else escaping is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem the user can fix: bad input, a missing tool, an unreachable service."""

    exit_code = 1


class InvalidInput(UserError):
    """A file or value the user gave is not valid (a rules document, a lead file)."""

    exit_code = 1


class MissingTool(UserError):
    """A program the command needs (Java, Maven) is not installed or not on PATH."""

    exit_code = 3


class ServiceUnavailable(UserError):
    """A service the command needs (the Kafka broker) did not answer, failed to start, or refused
    the credentials (``AuthenticationFailed``)."""

    exit_code = 4


class AuthenticationFailed(ServiceUnavailable):
    """A service (the Kafka broker) refused the credentials given. Retrying cannot help, so the
    command ends at once with the same exit code as an unreachable service, saying why."""
