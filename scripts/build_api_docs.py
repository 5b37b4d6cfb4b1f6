"""Builds the API reference of the installed flowrl package with pdoc, failing on any problem.

Usage: ``python scripts/build_api_docs.py OUTPUT_DIRECTORY`` (``scripts/build-api-docs.sh`` runs it
in the test venv). Run it from outside ``python/`` so that ``import flowrl`` finds the installed
package, with its library.

pdoc imports the package, so the reference shows the docstrings and signatures the algorithm
classes build from the core's schema at import time; it needs no configuration. The docstrings
are numpydoc with Sphinx roles (``:class:`~flowrl.errors.FlowRLError```). Three things fail the
build, each listed with the object it concerns:

- any warning pdoc emits (a type annotation that does not resolve, a module that does not import,
  ...): warnings are errors while it runs;
- a role whose target does not resolve, tried as Sphinx tries it: relative to the class, then the
  module the docstring was written in, then ``flowrl``, then as an absolute name;
- a public module, class, function or method of the reference without a docstring;
- a public ``flowrl.…`` name a page shows as inline code that pdoc could not link (not in the
  reference).

pdoc turns a role into inline code and links it when it names a documented object; Sphinx's
``~`` (show only the last part) is dropped first, so that the full name is shown and linked.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import pdoc
import pdoc.doc
import pdoc.docstrings
import pdoc.render

PACKAGE = "flowrl"

#: A Sphinx cross-reference role and its target: ``:class:`~flowrl.Agent```.
ROLE = re.compile(r"(?::py)?:(mod|func|data|const|class|meth|attr|exc|obj):`([^`]+)`")


def public_modules() -> list[str]:
    """The package and every Python submodule whose dotted name has no part starting with ``_``
    (not the shared libraries beside them, which pkgutil lists as extension modules)."""
    package = importlib.import_module(PACKAGE)
    names = [PACKAGE]
    for module in pkgutil.walk_packages(package.__path__, prefix=f"{PACKAGE}."):
        spec = importlib.util.find_spec(module.name)
        python_source = spec is not None and str(spec.origin or "").endswith(".py")
        if python_source and not any(part.startswith("_") for part in module.name.split(".")):
            names.append(module.name)
    return sorted(names)


def _lookup(dotted: str) -> bool:
    """True if ``dotted`` names a module, or an attribute reachable from one by ``getattr``.

    Only flowrl and packages already importable are imported (``torch.nn.ReLU`` in a docstring
    does not install torch); an unimportable top-level package counts as not resolving.
    """
    parts = dotted.split(".")
    if not parts[0] or importlib.util.find_spec(parts[0]) is None:
        return False
    for split in range(len(parts), 0, -1):
        name = ".".join(parts[:split])
        try:
            target: Any = importlib.import_module(name)
        except ImportError:
            continue
        try:
            for attribute in parts[split:]:
                target = getattr(target, attribute)
        except AttributeError:
            return False
        return True
    return False


def resolves(target: str, module: str, qualname: str) -> bool:
    """True if a role's ``target`` resolves from a docstring of ``module.qualname``.

    Tried as Sphinx's Python domain tries it: in the enclosing classes (innermost first), in the
    module, in the package, then as an absolute name.
    """
    target = target.strip().lstrip("~").removesuffix("()")
    if "<" in target and target.endswith(">"):  # :class:`title <target>`
        target = target[target.rindex("<") + 1:-1].strip().lstrip("~")
    scopes = []
    parts = qualname.split(".") if qualname else []
    for depth in range(len(parts), 0, -1):
        scopes.append(f"{module}.{'.'.join(parts[:depth])}")
    scopes += [module, PACKAGE, ""]
    return any(_lookup(f"{scope}.{target}" if scope else target) for scope in scopes)


def _is_public(name: str) -> bool:
    return not name.startswith("_") or name == "__init__"


def _defined_in_package(doc: pdoc.doc.Doc) -> bool:
    """False for a function flowrl did not write (the ``__init__`` ``typing.Protocol`` puts on a protocol)."""
    if not isinstance(doc, pdoc.doc.Function):
        return True
    return str(getattr(doc.obj, "__module__", "") or "").split(".")[0] == PACKAGE


def walk(documented: dict[str, pdoc.doc.Module]) -> list[pdoc.doc.Doc]:
    """Every public object of the reference once: the modules and, within them, their own
    classes, functions, methods and variables (members re-exported from elsewhere in the package
    are visited where they are defined)."""
    seen: set[tuple[str, str]] = set()
    found: list[pdoc.doc.Doc] = []

    def visit(doc: pdoc.doc.Doc) -> None:
        origin = doc.taken_from
        if origin in seen:
            return
        seen.add(origin)
        found.append(doc)
        if isinstance(doc, pdoc.doc.Class):
            for member in doc.own_members:
                if _is_public(member.name) and _defined_in_package(member):
                    visit(member)

    for module in documented.values():
        found.append(module)
        for member in module.own_members:
            if _is_public(member.name) and member.taken_from[0].split(".")[0] == PACKAGE:
                visit(member)
    return found


def problems_of(doc: pdoc.doc.Doc) -> list[str]:
    """What is wrong with one object's docstring: a missing docstring, a role that does not resolve."""
    module, qualname = doc.taken_from
    where = f"{module}.{qualname}".rstrip(".")
    text = doc.docstring
    if isinstance(doc, pdoc.doc.Variable):
        # A variable's docstring is its #: comment; an undocumented constant is not an error.
        pass
    elif not text.strip() and not _inherits_its_docstring(doc):
        return [f"{where}: no docstring"]
    scope = qualname if isinstance(doc, pdoc.doc.Class) else qualname.rpartition(".")[0]
    return [f"{where}: :{role}:`{target}` does not resolve"
            for role, target in ROLE.findall(text) if not target.startswith("!") and not resolves(target, module, scope)]


def _inherits_its_docstring(doc: pdoc.doc.Doc) -> bool:
    """True for a method that overrides one documented in a base class (``inspect.getdoc``'s rule)."""
    return isinstance(doc, pdoc.doc.Function) and bool(inspect.getdoc(doc.obj))


def _without_tilde(rst: Callable[[str, Optional[Path]], str]) -> Callable[[str, Optional[Path]], str]:
    """pdoc's reStructuredText step, with Sphinx's ``~`` removed from role targets first (pdoc
    would show it, and not link the name)."""

    def convert(contents: str, source_file: Optional[Path]) -> str:
        return rst(ROLE.sub(lambda match: match.group(0).replace("`~", "`"), contents), source_file)

    return convert


def write(documented: dict[str, pdoc.doc.Module], output: Path) -> None:
    """Writes one page per module, the index and the search index (what ``pdoc.pdoc`` writes, for
    an explicit list of modules: ``pdoc.pdoc("flowrl", "flowrl.core")`` would add the modules of
    ``flowrl.__all__`` twice)."""
    for module in documented.values():
        page = output / f"{module.fullname.replace('.', '/')}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(pdoc.render.html_module(module, documented), encoding="utf-8")
    (output / "index.html").write_text(pdoc.render.html_index(documented), encoding="utf-8")
    (output / "search.js").write_text(pdoc.render.search_index(documented), encoding="utf-8")


def unlinked_names(output: Path) -> list[str]:
    """``page: name`` for each ``flowrl.…`` name a page shows as inline code without a link (pdoc
    links every name of a documented object; one left as code names something the reference lacks)."""
    found = []
    for page in sorted(output.rglob("*.html")):
        for name in sorted(set(re.findall(rf"<code>({PACKAGE}(?:\.\w+)+)(?:\(\))?</code>", page.read_text(encoding="utf-8")))):
            if not any(part.startswith("_") for part in name.split(".")):  # a private module is named, not documented
                found.append(f"{page.relative_to(output)}: {name}")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    output = Path(argv[1])
    if not callable(getattr(pdoc.docstrings, "rst", None)):
        print("build_api_docs: this pdoc has no docstrings.rst step to extend; pin pdoc in scripts/build-api-docs.sh",
              file=sys.stderr)
        return 1
    pdoc.docstrings.rst = _without_tilde(pdoc.docstrings.rst)
    pdoc.render.configure(docformat="numpy", footer_text=f"{PACKAGE} API reference")
    names = public_modules()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        documented = {name: pdoc.doc.Module.from_name(name) for name in names}
        problems = [problem for doc in walk(documented) for problem in problems_of(doc)]
        if problems:
            print(f"build_api_docs: {len(problems)} docstring problem(s):", *problems, sep="\n  ", file=sys.stderr)
            return 1
        write(documented, output)
    unlinked = unlinked_names(output)
    if unlinked:
        print(f"build_api_docs: {len(unlinked)} flowrl name(s) shown as code but linked to nothing (not documented):",
              *unlinked, sep="\n  ", file=sys.stderr)
        return 1
    print(f"API reference of {len(names)} modules written to {output / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
