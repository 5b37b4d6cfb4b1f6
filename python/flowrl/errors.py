"""Exceptions raised for the statuses of the C ABI (include/flowrl.h)."""

from __future__ import annotations


class FlowRLError(Exception):
    """Base class of every flowrl error; ``status`` is the C status code."""

    status: int = -1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgumentError(FlowRLError, ValueError):
    """Malformed input: wrong shape, NaN or Inf, unknown name, out-of-range value."""

    status = 1


class InvalidStateError(FlowRLError, RuntimeError):
    """The call is not valid now: a closed or freed agent, an empty replay buffer."""

    status = 2


class CheckpointError(FlowRLError, OSError):
    """A file could not be read or written, or is not a valid checkpoint."""

    status = 3


class NumericalError(FlowRLError, ArithmeticError):
    """A computation produced NaN or Inf; the agent was restored to its state before the call."""

    status = 4


class InternalError(FlowRLError, RuntimeError):
    """A bug in flowrl; please report it with the message."""

    status = 5


_BY_STATUS = {cls.status: cls for cls in (InvalidArgumentError, InvalidStateError, CheckpointError, NumericalError,
                                          InternalError)}


def error_for_status(status: int, message: str) -> FlowRLError:
    """The exception for a non-zero C status."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        return InternalError(f"unknown status {status}: {message}")
    return cls(message)
