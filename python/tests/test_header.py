"""The ctypes declarations in flowrl._lib.SIGNATURES agree with the C header, function by function."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from ctypes import POINTER, c_char_p, c_int32, c_int64, c_uint8, c_uint64, c_void_p
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flowrl
import pytest
from flowrl import _lib
from flowrl.errors import CheckpointError, InternalError, InvalidArgumentError, InvalidStateError, NumericalError

REPOSITORY_HEADER = Path(__file__).resolve().parents[2] / "include" / "flowrl.h"


def header_path() -> Path:
    installed = Path(flowrl.__file__).resolve().parent / "flowrl.h"
    return installed if installed.is_file() else REPOSITORY_HEADER


@dataclass(frozen=True)
class Parameter:
    type: str  # normalised: "const char*", "int64_t", "flowrl_agent**", ...
    name: str


@dataclass(frozen=True)
class Prototype:
    name: str
    result: str
    parameters: tuple[Parameter, ...]


def normalise_type(text: str) -> str:
    """`const  char *` -> `const char*`."""
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s*\*\s*", "*", text)


def parse_parameter(text: str) -> Parameter:
    match = re.fullmatch(r"(.*?[\s\*])(\w+)", text.strip(), flags=re.S)
    if match is None:
        raise ValueError(f"cannot parse parameter {text!r}")
    return Parameter(normalise_type(match.group(1)), match.group(2))


def parse_prototypes(source: str) -> list[Prototype]:
    """The function prototypes of a C header, in order (comments and preprocessor lines removed)."""
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.S)
    source = re.sub(r"//[^\n]*", " ", source)
    source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
    prototypes = []
    for match in re.finditer(r"([A-Za-z_][\w \t\n\*]*?)\b(\w+)\s*\(([^()]*)\)\s*;", source):
        result, name, arguments = match.groups()
        arguments = arguments.strip()
        parameters = () if arguments in ("", "void") else tuple(parse_parameter(part) for part in arguments.split(","))
        prototypes.append(Prototype(name, normalise_type(result), parameters))
    return prototypes


def parse_defines(source: str) -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(r"^\s*#define\s+(\w+)\s+(-?\d+)\b", source, flags=re.M)}


#: C type -> the ctypes type SIGNATURES must use for it.
C_TYPES: dict[str, Any] = {
    "int32_t": c_int32,
    "int64_t": c_int64,
    "uint64_t": c_uint64,
    "const char*": c_char_p,
    "const char**": POINTER(c_char_p),
    "flowrl_agent*": c_void_p,
    "flowrl_agent**": POINTER(c_void_p),
    "const float*": c_void_p,  # arrays are passed as their address
    "float*": c_void_p,
    "const uint8_t*": c_void_p,
    "uint8_t*": c_void_p,
    "int64_t*": POINTER(c_int64),
}

#: Byte buffers that the package passes as ctypes arrays of c_uint8.
BYTE_BUFFERS: dict[tuple[str, str], Any] = {
    ("flowrl_agent_save_bytes", "buffer"): POINTER(c_uint8),
    ("flowrl_agent_load_bytes", "data"): POINTER(c_uint8),
}


def expected_ctype(function: str, parameter: Parameter) -> Any:
    if (function, parameter.name) in BYTE_BUFFERS:
        return BYTE_BUFFERS[(function, parameter.name)]
    if parameter.type not in C_TYPES:
        raise AssertionError(f"{function}: parameter {parameter.name} has type {parameter.type!r}, which the test cannot map")
    return C_TYPES[parameter.type]


@pytest.fixture(scope="module")
def header_source() -> str:
    return header_path().read_text()


@pytest.fixture(scope="module")
def prototypes(header_source: str) -> list[Prototype]:
    return parse_prototypes(header_source)


# --------------------------------------------------------------------------- the parser itself


def test_parser_on_a_sample() -> None:
    sample = """
    /* int32_t flowrl_commented_out(void); */
    #define FLOWRL_SAMPLE 7
    typedef struct flowrl_agent flowrl_agent;
    int32_t flowrl_one(void);
    const char *flowrl_two(void); // trailing comment
    int32_t flowrl_three(const char *name, int64_t size,
                         flowrl_agent **agent_out, const uint8_t *data);
    """
    parsed = parse_prototypes(sample)
    assert [prototype.name for prototype in parsed] == ["flowrl_one", "flowrl_two", "flowrl_three"]
    assert parsed[1].result == "const char*" and parsed[1].parameters == ()
    assert parsed[2].parameters == (Parameter("const char*", "name"), Parameter("int64_t", "size"),
                                    Parameter("flowrl_agent**", "agent_out"), Parameter("const uint8_t*", "data"))
    assert parse_defines(sample) == {"FLOWRL_SAMPLE": 7}


def test_header_parses_to_the_whole_api(prototypes: list[Prototype]) -> None:
    names = [prototype.name for prototype in prototypes]
    assert len(names) == len(set(names))
    assert len(names) >= 18
    assert all(name.startswith("flowrl_") for name in names)
    assert {"flowrl_agent_create", "flowrl_agent_free", "flowrl_agent_act", "flowrl_agent_load_bytes"} <= set(names)


# --------------------------------------------------------------------------- header vs SIGNATURES


def test_same_functions_in_the_same_order(prototypes: list[Prototype]) -> None:
    assert set(_lib.SIGNATURES) == {prototype.name for prototype in prototypes}
    assert list(_lib.SIGNATURES) == [prototype.name for prototype in prototypes]


def test_same_argument_counts(prototypes: list[Prototype]) -> None:
    for prototype in prototypes:
        assert prototype.name in _lib.SIGNATURES, f"{prototype.name} is declared in the header but not in SIGNATURES"
        _, argtypes = _lib.SIGNATURES[prototype.name]
        assert len(argtypes) == len(prototype.parameters), prototype.name


def test_compatible_types(prototypes: list[Prototype]) -> None:
    for prototype in prototypes:
        assert prototype.name in _lib.SIGNATURES, f"{prototype.name} is declared in the header but not in SIGNATURES"
        restype, argtypes = _lib.SIGNATURES[prototype.name]
        result = C_TYPES.get(prototype.result)
        assert result is not None, f"{prototype.name} returns {prototype.result!r}"
        assert restype is result, f"{prototype.name}: restype {restype} for {prototype.result}"
        for index, (parameter, declared) in enumerate(zip(prototype.parameters, argtypes)):
            expected = expected_ctype(prototype.name, parameter)
            assert declared is expected, f"{prototype.name} argument {index} ({parameter.type} {parameter.name}): {declared}, expected {expected}"


def test_abi_version(header_source: str) -> None:
    defines = parse_defines(header_source)
    assert defines["FLOWRL_ABI_VERSION"] == flowrl.ABI_VERSION
    assert _lib.lib.flowrl_abi_version() == flowrl.ABI_VERSION


def test_status_codes_match_the_exceptions(header_source: str) -> None:
    defines = parse_defines(header_source)
    assert defines["FLOWRL_OK"] == 0
    assert defines["FLOWRL_INVALID_ARGUMENT"] == InvalidArgumentError.status
    assert defines["FLOWRL_INVALID_STATE"] == InvalidStateError.status
    assert defines["FLOWRL_IO"] == CheckpointError.status
    assert defines["FLOWRL_NUMERICAL"] == NumericalError.status
    assert defines["FLOWRL_INTERNAL"] == InternalError.status


def test_every_declared_function_is_in_the_library(prototypes: list[Prototype]) -> None:
    library = ctypes.CDLL(str(flowrl.library_path()))
    for prototype in prototypes:
        assert hasattr(library, prototype.name), prototype.name
        loaded = getattr(_lib.lib, prototype.name)
        restype, argtypes = _lib.SIGNATURES[prototype.name]
        assert loaded.restype is restype, prototype.name
        assert list(loaded.argtypes) == list(argtypes), prototype.name


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs nm")
def test_library_exports_nothing_undeclared(prototypes: list[Prototype]) -> None:
    output = subprocess.run(["nm", "-D", "--defined-only", str(flowrl.library_path())], capture_output=True, text=True,
                            check=True).stdout
    exported = {line.split()[-1] for line in output.splitlines() if line.split() and line.split()[-1].startswith("flowrl_")}
    assert exported == {prototype.name for prototype in prototypes}
