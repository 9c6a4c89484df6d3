"""The API reference (docs/api/*.rst, built by Sphinx autodoc; CI builds it with warnings as errors)
documents every public object, and the docstrings read as they are meant to."""
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import hetrec

API_DIR = Path(__file__).resolve().parents[1] / "docs" / "api"
DIRECTIVE = re.compile(r"^\.\. (auto\w+|currentmodule|py:currentmodule)::\s*(\S+)", re.M)
PUBLIC_PACKAGES = sorted(f"hetrec.{m.name}" for m in pkgutil.iter_modules(hetrec.__path__)
                         if m.ispkg and not m.name.startswith("_"))


def documented() -> tuple:
    """(modules named by ``automodule``, full names of the objects the other autodoc directives
    document), over every page of the API reference."""
    modules, objects = set(), set()
    for page in sorted(API_DIR.glob("*.rst")):
        current = None
        for kind, target in DIRECTIVE.findall(page.read_text()):
            if kind.endswith("currentmodule"):
                current = target
            elif kind == "automodule":
                modules.add(target)
            else:
                objects.add(target if target.startswith("hetrec.") or current is None else f"{current}.{target}")
    return modules, objects


def test_every_public_package_has_an_api_page():
    modules, _ = documented()
    missing = [p for p in PUBLIC_PACKAGES if p not in modules]
    assert not missing, f"no '.. automodule::' for {missing} in docs/api/*.rst (and add the page to docs/api/index.rst)"


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_every_exported_name_is_documented(package):
    names = getattr(importlib.import_module(package), "__all__", None)
    assert names, f"{package} has no __all__: its public names cannot be checked"
    _, objects = documented()
    missing = [n for n in names if f"{package}.{n}" not in objects]
    assert not missing, f"{package}.__all__ names {missing}, which no autodoc directive in docs/api/*.rst documents"


def test_attribute_docs_have_no_inline_type():
    """napoleon reads ``#: words: more words`` on a field or constant as ``type: description`` and
    renders "Type: words"; the type is the annotation, so such a comment must not start that way."""
    pytest.importorskip("sphinx")
    from sphinx.ext.napoleon import Config
    from sphinx.ext.napoleon.docstring import NumpyDocstring
    from sphinx.pycode import ModuleAnalyzer

    bad = []
    for info in pkgutil.walk_packages(hetrec.__path__, "hetrec."):
        analyzer = ModuleAnalyzer.for_module(info.name)
        for (scope, name), lines in analyzer.find_attr_docs().items():
            parsed = str(NumpyDocstring(list(lines), Config(), what="attribute", name=name))
            if ":type:" in parsed:
                bad.append(f"{info.name}:{scope + '.' if scope else ''}{name}: {lines[0]!r}")
    assert not bad, "the first line of these doc comments reads as 'type: description':\n" + "\n".join(bad)
