"""Import cycles between the project's modules (strongly connected components of the import graph).

Every import counts, also those inside functions and under ``if TYPE_CHECKING:``-free branches:
the graph is built from the AST, not by importing anything. ``from pkg import name`` counts as an
import of ``pkg.name`` when that is a project module, else of ``pkg``. Importing ``a.b.c`` is an
edge to ``a.b.c`` only (not to the parent packages' ``__init__``), as import-linter counts it.

    python scripts/import_cycles.py                 # portal/ models/ views/ jobs/
    python scripts/import_cycles.py portal models   # other roots
    python scripts/import_cycles.py --edges         # also print the edges inside each cycle

Exit status 1 when there is a cycle (usable in CI), 0 otherwise.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

DEFAULT_ROOTS = ("portal", "models", "views", "jobs")


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def collect_modules(base: Path, roots: list[str]) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for root in roots:
        top = base / root
        if top.is_file() and top.suffix == ".py":
            modules[module_name(top, base)] = top
            continue
        for path in sorted(top.rglob("*.py")):
            if "__pycache__" not in path.parts:
                modules[module_name(path, base)] = path
    return modules


def resolve_relative(current: str, is_package: bool, level: int, module: str | None) -> str:
    parts = current.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    if module:
        parts += module.split(".")
    return ".".join(parts)


def imports_of(name: str, path: Path, known: set[str]) -> dict[str, int]:
    """Project modules imported by one module → line of the first such import."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        # the longest known prefix: `import portal.a.b` where only portal.a exists → portal.a
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.setdefault(target, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = (
                resolve_relative(name, is_package, node.level, node.module)
                if node.level
                else node.module or ""
            )
            for alias in node.names:
                full = f"{base}.{alias.name}" if base else alias.name
                if full in known:
                    add(full, node.lineno)
                else:
                    add(base, node.lineno)
    return found


def graph(base: Path, roots: list[str]) -> tuple[dict[str, dict[str, int]], dict[str, Path]]:
    modules = collect_modules(base, roots)
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}, modules


def strongly_connected(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on long chains)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return sorted(components, key=lambda c: (-len(c), c))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="*", default=list(DEFAULT_ROOTS))
    parser.add_argument("--base", default=".", help="repository root (default: .)")
    parser.add_argument("--edges", action="store_true", help="print the edges inside each cycle")
    args = parser.parse_args(argv)
    base = Path(args.base).resolve()
    edges, modules = graph(base, args.roots)
    components = strongly_connected(edges)
    print(f"{len(modules)} modules, {sum(map(len, edges.values()))} import edges")
    if not components:
        print("no import cycle")
        return 0
    for number, component in enumerate(components, 1):
        print(f"\ncycle {number}: {len(component)} modules")
        members = set(component)
        for name in component:
            print(f"  {name}")
            if args.edges:
                for target, line in sorted(edges[name].items()):
                    if target in members:
                        print(f"      → {target}  ({modules[name].relative_to(base)}:{line})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
