"""The package's imports form no circle: module A importing B (at the top or inside a function)
while B imports A, directly or through others. Package ``__init__`` files are left out: they
only gather their modules' names for users, and every module imports from its siblings."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "hetrec"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set) -> set:
    """The hetrec modules ``path`` imports (relative and absolute, anywhere in the file)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in modules and t != name)
    return out


def find_circle(graph: dict):
    """One circle of ``graph`` (module -> imported modules) as a list, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def package_graph() -> dict:
    files = [p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts]
    modules = {module_name(p) for p in files}
    inits = {module_name(p) for p in files if p.name == "__init__.py"}
    return {module_name(p): imports(p, modules) - inits for p in files if p.name != "__init__.py"}


def test_the_circle_finder_finds_circles():
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_holds_known_imports():
    g = package_graph()
    assert "hetrec.distributed.runtime" in g["hetrec.distributed.mthgt"]  # imported inside a function
    assert "hetrec.distributed.mthgt" in g["hetrec.distributed.train"]


def test_the_package_has_no_import_circle():
    assert find_circle(package_graph()) is None
