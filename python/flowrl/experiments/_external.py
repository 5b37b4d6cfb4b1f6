"""Algorithm classes of other libraries in a sweep: any class with Stable-Baselines3's interface
(``stable_baselines3.SAC``, or a class of one's own), named in a trial spec by an importable
``"module:Class"`` reference, so that every trial process imports it itself.

flowrl imports none of these libraries: a reference is imported when the sweep checks its trials
and in each trial's process, never when flowrl or a grid is read. Such a trial cannot resume
exactly (its checkpoint is the class's own ``save``, without the replay buffer or the random
state), so an interrupted one starts again from step 0 (see :mod:`~flowrl.experiments._trial`).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import re
import sys
from typing import Any, Iterator, Mapping, Optional

from ..errors import InvalidArgumentError

#: The policy argument an external class is created with when its entry names none.
DEFAULT_POLICY = "MlpPolicy"

#: What a trial calls on an external class besides its constructor, each as it is written in a
#: message and with arguments it must accept (``None`` for ``self`` of an instance's method).
CALLS: dict[str, tuple[str, tuple[Any, ...], dict[str, Any]]] = {
    "learn": ("learn(total_timesteps, reset_num_timesteps=False)", (None, 1), {"reset_num_timesteps": False}),
    "predict": ("predict(observation, deterministic=True)", (None, None), {"deterministic": True}),
    "set_env": ("set_env(env)", (None, None), {}),
    "save": ("save(path)", (None, "model"), {}),
    "load": ("Cls.load(path, env=...)", ("model",), {"env": None}),
}

#: Stable-Baselines3's interface as a trial uses it, for messages.
INTERFACE = ("Cls(policy, env, seed=..., **hyperparameters), " + ", ".join(call for call, _, _ in CALLS.values())
             + " and the attribute num_timesteps")

_REFERENCE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def is_reference(text: Any) -> bool:
    """Whether ``text`` has the form of an importable ``"module:Class"`` reference
    (``"stable_baselines3:SAC"``); nothing is imported."""
    return isinstance(text, str) and _REFERENCE.fullmatch(text) is not None


def reference(cls: type) -> str:
    """The ``"module:Class"`` reference of ``cls``, by which a trial process imports it.

    Raises
    ------
    InvalidArgumentError
        When the reference does not import ``cls`` itself (a class defined inside a function, or
        in ``__main__``, which another process cannot import).
    """
    text = f"{cls.__module__}:{cls.__qualname__}"
    if cls.__module__ == "__main__" or not is_reference(text) or _imported(text) is not cls:
        raise InvalidArgumentError(f"the class {text} cannot be imported by its name in a trial's process; define it "
                                   "at the top level of an importable module and give it (or 'module:Class')")
    return text


def _imported(text: str) -> Any:
    """The object ``"module:a.b"`` names, or None when it cannot be imported."""
    try:
        return resolve(text)
    except InvalidArgumentError:
        return None


def resolve(text: str) -> Any:
    """Imports the module of a ``"module:Class"`` reference and returns the object it names.

    Raises
    ------
    InvalidArgumentError
        Naming the reference, when the module cannot be imported (with the import's error) or
        does not have the name.
    """
    module_name, _, qualname = text.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise InvalidArgumentError(f"cannot import {text!r}: {type(error).__name__}: {error} (install the library "
                                   "that provides it in the environment the sweep and its trials run in)") from None
    for name in qualname.split("."):
        if not hasattr(found, name):
            raise InvalidArgumentError(f"cannot import {text!r}: module {module_name!r} has no {qualname!r}")
        found = getattr(found, name)
    return found


def check_interface(cls: Any, text: str, policy: Optional[str], hyperparameters: Mapping[str, Any]) -> None:
    """Checks, with :func:`inspect.signature` and without creating anything, that a trial can
    call ``cls`` as a sweep does: ``cls(policy, env, seed=..., **hyperparameters)`` and the
    methods of :data:`CALLS`.

    Raises
    ------
    InvalidArgumentError
        Naming ``text`` and what is missing: not a class, a method it lacks or cannot be called
        as a trial calls it, a hyperparameter its constructor does not take (named, with the
        keys it takes) or a constructor that cannot be called with the policy, env and seed.
    """
    if not isinstance(cls, type):
        raise InvalidArgumentError(f"{text} is not a class ({type(cls).__name__}); an external algorithm is a class "
                                   f"with Stable-Baselines3's interface: {INTERFACE}")
    missing = [name for name in CALLS if not callable(getattr(cls, name, None))]
    if missing:
        raise InvalidArgumentError(f"{text} lacks {missing}; an external algorithm needs Stable-Baselines3's interface: "
                                   f"{INTERFACE}")
    for name, (call, arguments, keywords) in CALLS.items():
        problem = _binding_problem(getattr(cls, name), arguments, keywords)
        if problem:
            raise InvalidArgumentError(f"{text}.{name} cannot be called as {call}: {problem}")
    constructor = _signature(cls)
    parameters = constructor.parameters if constructor is not None else {}
    if parameters and not any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()):
        unknown = sorted(set(hyperparameters) - set(parameters))
        if unknown:
            taken = sorted(name for name in parameters if name not in ("policy", "env", "seed") and not name.startswith("_"))
            raise InvalidArgumentError(f"unknown hyperparameters {unknown} for {text}; its constructor takes {taken}")
    problem = _binding_problem(cls, (policy, None), {"seed": 0, **hyperparameters})
    if problem:
        raise InvalidArgumentError(f"{text} cannot be created as Cls(policy, env, seed=..., **hyperparameters): {problem}")


def _signature(function: Any) -> Optional[inspect.Signature]:
    """``function``'s signature, or None when Python cannot tell it (a built-in)."""
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):
        return None


def _binding_problem(function: Any, arguments: tuple[Any, ...], keywords: dict[str, Any]) -> Optional[str]:
    """Why ``function`` cannot be called with these arguments (the message of the TypeError
    binding raises), or None when it can or its signature cannot be read."""
    signature = _signature(function)
    if signature is None:
        return None
    try:
        signature.bind(*arguments, **keywords)
    except TypeError as error:
        return str(error)
    return None


def version(text: str) -> Optional[str]:
    """The ``__version__`` of the top-level package of the reference's module (imported), or None."""
    package = sys.modules.get(text.partition(":")[0].split(".")[0])
    found = getattr(package, "__version__", None)
    return None if found is None else str(found)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[Optional[int]]:
    """Sets PyTorch's intra-op threads to ``threads`` in the block when the process has imported
    torch (an external class's module did; this never imports it), as flowrl's agents get one BLAS
    thread each, and restores the count it had afterwards.

    Yields
    ------
    int or None
        The count torch reports in the block, or None without torch.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        yield None
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield int(torch.get_num_threads())
    finally:
        torch.set_num_threads(before)
