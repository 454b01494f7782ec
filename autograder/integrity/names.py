"""What each name of a notebook may refer to, followed through imports, aliases, scopes and cells.

``import jax as j; j.grad``, ``g = jax.grad`` in an added cell and ``g(f)`` in
a solution, a helper defined in another cell whose body uses ``jax``: names
are followed wherever they lead.  The order of cells is ignored on purpose: a
function looks its globals up when it is *called*, and a student may run
cells in any order, so a global may hold what *any* cell bound to it.

What is tracked about a value (a :class:`Var`) is only what the rules need:
the modules, or attributes of modules, it may be (``numpy.linalg``,
``jax.grad``), and whether it was computed from an AD library ("derived": a
value made with ``jax.grad`` is AD even though it is no longer ``jax.grad``).

Linear time.  Bindings form a graph (``a1 = a0`` is an edge from ``a0`` to
``a1``; ``x = f(a)`` an edge that keeps only the AD mark), and values flow
along it with a worklist.  A name's value only ever grows, and is capped
(:data:`~budget.MAX_VALUES` paths, then "more than the checker follows"), so
each name changes a bounded number of times and each edge is taken a bounded
number of times: the work is proportional to the size of the notebook, not
to its square, as the fixed-point iteration over all bindings it replaces
was.  Every step is counted (:class:`~budget.Work`), and the notebook is
reported, not waited for, beyond :data:`~budget.MAX_STEPS`.

What it cannot see: what is done with objects the grader passes in, and the
inside of modules; the rules make up for it by allowing only a short list of
modules and by flagging private attributes of objects from outside the cell.
"""

from __future__ import annotations

import ast
import builtins
from collections import deque
from dataclasses import dataclass
from typing import Iterator, NamedTuple

from autograder.integrity.budget import MAX_PATH_DEPTH, MAX_VALUES, TooComplex, Work
from autograder.integrity.rules import (AD_LIBRARIES, DEFAULT_NAMES, DYNAMIC_IMPORTS, HARMLESS_NAMES, ad_of,
                                        ipython_name)


class Value(NamedTuple):
    """One thing a name may be: a dotted path (with the AD thing it is, if any), or a derived AD mark."""

    path: str | None
    ad: str | None


class Var:
    """What a name, or an expression, may hold.

    ``paths``: modules and attributes of modules (an insertion-ordered set, so that messages are the
    same on every run); ``ad``: the AD thing a *computed* value came from; ``overflow``: more than the
    checker follows, reported as such.  ``edges`` lead to the values computed from this one; ``sites``
    are the bindings of a named variable.
    """

    __slots__ = ("paths", "ad", "overflow", "edges", "sites")

    def __init__(self, paths=(), ad=None):
        self.paths: dict[str, None] = dict.fromkeys(paths)
        self.ad: str | None = ad
        self.overflow = len(self.paths) > MAX_VALUES
        self.edges: list[tuple] = []
        self.sites: list[Site] = []

    def join(self, paths, ad) -> bool:
        """Add what may also be here; True if that changed anything."""
        if self.overflow:
            return False
        changed = False
        for path in paths:
            if path is None or path.count(".") > MAX_PATH_DEPTH:
                self.overflow = True
                return True
            if path not in self.paths:
                if len(self.paths) >= MAX_VALUES:
                    self.overflow = True
                    return True
                self.paths[path] = None
                changed = True
        if ad and not self.ad:
            self.ad, changed = ad, True
        return changed

    def values(self, attributes=()) -> list[Value]:
        """The values of ``var.a.b`` for ``attributes`` = ("a", "b")."""
        suffix = "".join("." + a for a in attributes)
        found = [Value(path + suffix, ad_of(path + suffix)) for path in self.paths]
        return found + ([Value(None, self.ad)] if self.ad else [])


class Scope:
    """A Python scope inside one cell: the cell itself (module), a function, a class or a comprehension."""

    __slots__ = ("kind", "parent", "module", "cell", "locals", "globals", "nonlocals", "vars", "params",
                 "self_name", "reads_private", "methods")

    def __init__(self, kind: str, parent: Scope | None, cell: int | None = None):
        self.kind, self.parent = kind, parent
        self.module = parent.module if parent else self
        self.cell = cell if parent is None else parent.cell
        self.locals: set[str] = set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.vars: dict[str, Var] = {}
        self.params: set[str] = set()  # a function's parameters: what its caller (perhaps the grader) passes in
        self.self_name: str | None = None  # a method's first parameter: the student's own instance (or class)
        self.reads_private = False  # a method that uses self._x: not to be called with someone else's object
        self.methods: dict[str, Scope] = {}  # a class's methods


@dataclass
class Site:
    """A place where a name is bound, and what determines its value."""

    name: str
    scope: Scope  # the scope the name lives in
    line: int
    kind: str  # "import", "alias", "derived", "def", "mutate", "delete"
    node: ast.AST | None = None  # the expression (or the def) that gives the value
    path: str | None = None  # for imports
    trusted: bool = False  # in a cell that is not checked (instructor code)
    value: Var | None = None  # what this binding itself contributes


@dataclass
class Use:
    """A reference to something with a name: ``jax.grad``, ``g``, ``import os``, ``__import__("jax")``."""

    node: ast.AST
    text: str
    values: list[Value]
    kind: str  # "name", "import", "dynamic-import"
    overflow: bool = False


# Kinds of edges: how a value is carried from one Var to another.
_ALIAS = "alias"  # the same value, followed by attributes (a = b.c)
_STRIP = "strip"  # a value computed from it: only the AD mark survives (a = f(b))
_TRUST = "trust"  # instructor code and exercises' answers: their AD marks are not the student's doing
_IMPORT = "import"  # __import__("x") / import_module("x"), once the function is known to be one of those
_ENTRY = "entry"  # sys.modules["x"]


class Names:
    """Resolves every name of every cell, order-independently, to what it may refer to."""

    def __init__(self, cells, answers: set[str], work: Work):
        self.answers = answers  # exercises' answers: AD inside one is flagged where it is, not where it is called
        self.work = work
        self.scope_of: dict[int, Scope] = {}
        self.parent_of: dict[int, ast.AST] = {}
        self.stars: list[str] = []  # modules star-imported somewhere: an unbound name may come from them
        self.instructor_imports: dict[str, set[str]] = {}  # name -> module paths, from cells not checked
        self.global_vars: dict[str, Var] = {}  # name -> union of every cell's module-level bindings
        self.cell_vars: dict[str, list[tuple[int, Var]]] = {}  # name -> [(cell index, that cell's bindings)]
        self.sites: dict[int, list[Site]] = {}  # cell index -> its bindings
        self.incomplete: str | None = None  # why resolution stopped early, if it did
        self._defaults: dict[str, Var] = {}
        self._summaries: dict[int, Var] = {}
        self._edges: list[tuple] = []
        self._uses: dict[int, list[Use]] = {}
        self._nodes: dict[int, list[ast.AST]] = {}
        self.class_scopes: dict[int, Scope] = {}  # id(ClassDef) -> its scope
        trees = [(cell, cell.code.tree) for cell in cells if cell.code is not None and cell.code.tree is not None]
        modules = {}
        for cell, tree in trees:
            modules[cell.index] = self._scan(tree, cell.index)
            self.sites[cell.index] = list(self._sites(tree, trusted=not cell.checked))
        for module in modules.values():
            for name in module.locals:
                self.global_vars.setdefault(name, Var())
        for cell, _ in trees:
            for site in self.sites[cell.index]:
                if site.trusted and site.kind == "import" and site.scope.kind == "module":
                    self.instructor_imports.setdefault(site.name, set()).add(site.path)
        try:
            for cell, _ in trees:
                for site in self.sites[cell.index]:
                    self._wire(site)
            self._solve()
        except TooComplex as error:
            self.incomplete = str(error)

    # -- scopes --------------------------------------------------------------------------------------------

    def _scan(self, tree: ast.Module, cell: int) -> Scope:
        """Give every node its scope and parent, and every scope its local names (Python's rules).

        Iterative, like every walk of a tree here: the depth of a tree is bounded, but not by much.
        """
        module = Scope("module", None, cell)
        stack: list[tuple[ast.AST, Scope, ast.AST | None]] = [(tree, module, None)]
        while stack:
            node, scope, parent = stack.pop()
            self.scope_of[id(node)], self.parent_of[id(node)] = scope, parent
            children: list[tuple[ast.AST, Scope, ast.AST]] = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                inner = Scope("function", scope)
                arguments = node.args
                positional = [*arguments.posonlyargs, *arguments.args]
                if not isinstance(node, ast.Lambda):
                    scope.locals.add(node.name)
                    children += [(d, scope, node) for d in node.decorator_list]
                    children += [(node.returns, scope, node)] if node.returns else []
                    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)
                    if scope.kind == "class" and positional and not static:
                        inner.self_name = positional[0].arg
                        if not any(isinstance(d, ast.Name) and d.id == "classmethod" for d in node.decorator_list):
                            scope.methods[node.name] = inner  # C.m(x) makes x its self; a classmethod's is C
                children += [(d, scope, node) for d in [*arguments.defaults, *arguments.kw_defaults] if d is not None]
                rest = [*arguments.kwonlyargs, *filter(None, [arguments.vararg, arguments.kwarg])]
                for argument in [*positional, *rest]:
                    self.scope_of[id(argument)], self.parent_of[id(argument)] = inner, node
                    inner.locals.add(argument.arg)
                    inner.params.add(argument.arg)
                    if argument.annotation is not None:
                        children.append((argument.annotation, scope, argument))
                children += [(s, inner, node) for s in (node.body if isinstance(node.body, list) else [node.body])]
            elif isinstance(node, ast.ClassDef):
                scope.locals.add(node.name)
                children += [(n, scope, node) for n in [*node.decorator_list, *node.bases, *node.keywords]]
                inner = self.class_scopes[id(node)] = Scope("class", scope)
                children += [(s, inner, node) for s in node.body]
            elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
                children.append((node.generators[0].iter, scope, node))  # the first iterable: evaluated outside
                inner = Scope("comprehension", scope)
                for number, generator in enumerate(node.generators):
                    self.scope_of[id(generator)], self.parent_of[id(generator)] = inner, node
                    children.append((generator.target, inner, generator))
                    children += [(generator.iter, inner, generator)] if number else []
                    children += [(condition, inner, generator) for condition in generator.ifs]
                parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
                children += [(part, inner, node) for part in parts]
            else:
                if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                    home = scope
                    while isinstance(parent, ast.NamedExpr) and home.kind == "comprehension":
                        home = home.parent  # [(m := np) for _ in x] binds m outside the comprehension
                    home.locals.add(node.id)
                elif (isinstance(node, ast.Attribute) and node.attr.startswith("_") and isinstance(node.value, ast.Name)
                      and node.value.id == scope.self_name):
                    scope.reads_private = True
                elif isinstance(node, ast.Global):
                    scope.globals.update(node.names)
                elif isinstance(node, ast.Nonlocal):
                    scope.nonlocals.update(node.names)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    scope.locals.update(a.asname or a.name.split(".")[0] for a in node.names if a.name != "*")
                elif isinstance(node, ast.ExceptHandler) and node.name:
                    scope.locals.add(node.name)
                elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
                    scope.locals.add(node.name)
                elif isinstance(node, ast.MatchMapping) and node.rest:
                    scope.locals.add(node.rest)
                children = [(child, scope, node) for child in ast.iter_child_nodes(node)]
            stack.extend(reversed(children))
        return module

    def _home(self, name: str, scope: Scope) -> Scope:
        """The scope a name assigned in ``scope`` lives in (``global`` and ``nonlocal`` move it out)."""
        if scope.kind != "module" and name in scope.globals:
            scope.module.locals.add(name)
            return scope.module
        if name in scope.nonlocals:
            outer = scope.parent
            while outer.kind != "module" and (outer.kind == "class" or name not in outer.locals):
                outer = outer.parent
            return outer
        return scope

    def _sites(self, tree, trusted: bool) -> Iterator[Site]:
        """Every binding of a name in a cell, with what determines its value."""
        for node in ast.walk(tree):
            scope = self.scope_of.get(id(node))
            if scope is None:
                continue
            line = getattr(node, "lineno", 0)
            sites: list[Site] = []
            if isinstance(node, ast.Import):
                for alias in node.names:
                    name = alias.asname or alias.name.split(".")[0]
                    path = alias.name if alias.asname else name
                    sites.append(Site(name, self._home(name, scope), line, "import", path=path))
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    module = "." * node.level + (node.module or "")
                    if alias.name == "*":
                        if not node.level:
                            self.stars.append(module)
                        continue
                    name = alias.asname or alias.name
                    sites.append(Site(name, self._home(name, scope), line, "import", path=f"{module}.{alias.name}"))
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    sites += self._target_sites(target, node.value, scope, line)
            elif isinstance(node, ast.NamedExpr):
                while scope.kind == "comprehension":
                    scope = scope.parent
                sites += self._target_sites(node.target, node.value, scope, line)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                sites += self._target_sites(node.target, node.value, scope, line)
            elif isinstance(node, ast.AugAssign):
                sites += self._target_sites(node.target, node.value, scope, line, kind="derived")
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                sites += self._target_sites(node.target, node.iter, scope, line, kind="derived")
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        sites += self._target_sites(item.optional_vars, item.context_expr, scope, line, "derived")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                sites.append(Site(node.name, self._home(node.name, scope), line, "def", node))
            elif isinstance(node, ast.Delete):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        sites.append(Site(target.id, self._home(target.id, scope), line, "delete"))
            for site in sites:
                site.trusted = trusted
                yield site

    def _target_sites(self, target, value, scope, line, kind="alias") -> list[Site]:
        """The bindings of an assignment target: names, tuples of names, containers (``d["g"] = jax.grad``)."""
        sites, pending = [], [(target, value, kind)]
        while pending:
            target, value, kind = pending.pop()
            if isinstance(target, ast.Name):
                sites.append(Site(target.id, self._home(target.id, scope), line, kind, value))
            elif isinstance(target, (ast.Tuple, ast.List)):
                pairs = (isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts)
                         and not any(isinstance(e, ast.Starred) for e in [*value.elts, *target.elts]))
                for number, element in enumerate(target.elts):
                    element = element.value if isinstance(element, ast.Starred) else element
                    pending.append((element, value.elts[number] if pairs else value, kind if pairs else "derived"))
            elif isinstance(target, (ast.Attribute, ast.Subscript)):
                root = target  # helpers["g"] = jax.grad: the container now holds an AD function
                while isinstance(root, (ast.Attribute, ast.Subscript)):
                    root = root.value
                if isinstance(root, ast.Name):
                    sites.append(Site(root.id, self._container_scope(root.id, scope), line, "mutate", value))
        return sites[::-1]

    def _container_scope(self, name: str, scope: Scope) -> Scope:
        while scope.kind != "module" and (name not in scope.locals or name in scope.globals):
            scope = scope.parent
        return scope

    # -- the graph of values -------------------------------------------------------------------------------

    def _wire(self, site: Site) -> None:
        """Connect a binding to the expression that gives its value, and to the variable it binds."""
        site.value = value = Var()
        if site.kind == "import":
            value.join([site.path], None)
        elif site.kind == "alias":
            self._flow(site.node, value)
        elif site.kind in ("derived", "def"):
            self._edge(_STRIP, self._summary(site.node), value)
        elif site.kind == "mutate" and not self._is_imported(site.name):
            self._edge(_STRIP, self._summary(site.node), value)  # np.x = ...: np stays numpy
        answer = site.name in self.answers and site.scope.kind == "module"
        self._edge(_TRUST if site.trusted or answer else _ALIAS, value, self._target(site))

    def _target(self, site: Site) -> Var:
        """The variable a binding binds: the function's local, or this cell's binding of a global."""
        if site.scope.kind != "module":
            var = site.scope.vars.setdefault(site.name, Var())
            var.sites.append(site)
            return var
        shared = self.global_vars.setdefault(site.name, Var())
        shared.sites.append(site)
        cells = self.cell_vars.setdefault(site.name, [])
        if not cells or cells[-1][0] != site.scope.cell:
            cells.append((site.scope.cell, Var()))
            self._edge(_ALIAS, cells[-1][1], shared)
        return cells[-1][1]

    def _is_imported(self, name: str) -> bool:
        var = self.global_vars.get(name)
        return var is not None and any(site.kind == "import" for site in var.sites)

    def _flow(self, expression, into: Var) -> None:
        """``into`` may hold whatever ``expression`` evaluates to (an alias keeps modules; a computation doesn't)."""
        chain = dotted_name(expression)
        if chain is not None and isinstance(expression.ctx, ast.Load):
            root, attributes = chain
            self._edge(_ALIAS, self.resolve(root), into, tuple(attributes))
        elif isinstance(expression, ast.NamedExpr):
            self._flow(expression.value, into)
        elif isinstance(expression, ast.IfExp):
            self._flow(expression.body, into)
            self._flow(expression.orelse, into)
        elif isinstance(expression, ast.BoolOp):
            for part in expression.values:
                self._flow(part, into)
        elif (attribute := self._static_getattr(expression)) is not None:
            held = Var()
            self._flow(expression.args[0], held)
            self._edge(_ALIAS, held, into, (attribute,))
        else:
            if isinstance(expression, ast.Call):
                self._dynamic_import_edge(expression, into)
            elif isinstance(expression, ast.Subscript):
                self._modules_entry_edge(expression, into)
            self._edge(_STRIP, self._summary(expression), into)

    def _summary(self, node) -> Var:
        """What a computation uses, as far as AD goes: the AD mark of anything referenced inside ``node``.

        Each reference is walked once: a function, lambda or class nested inside has its own summary
        (a function's value is what its body uses), and so has the value of a walrus.
        """
        key = id(node)
        if key in self._summaries:
            return self._summaries[key]
        var = self._summaries[key] = Var()
        stack = [node]
        while stack:
            current = stack.pop()
            self.work.step()
            if current is not node and isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                                            ast.ClassDef)):
                self._edge(_STRIP, self._summary(current), var)
                continue
            if current is not node and isinstance(current, ast.NamedExpr):
                self._edge(_STRIP, self._summary(current.value), var)
                continue
            if isinstance(current, (ast.Import, ast.ImportFrom)):
                var.join((), next(filter(None, map(ad_of, import_paths(current))), None))
                continue
            chain = dotted_name(current)
            if chain is not None and isinstance(current.ctx, ast.Load):
                root, attributes = chain
                self._edge(_STRIP, self.resolve(root), var, tuple(attributes))
                continue
            if isinstance(current, ast.Attribute):  # np.x = ...: a reference to np
                stack.append(current.value)
                continue
            if isinstance(current, ast.Call):
                imported = Var()
                if self._dynamic_import_edge(current, imported):
                    self._edge(_STRIP, imported, var)
            stack.extend(ast.iter_child_nodes(current))
        return var

    def _dynamic_import_edge(self, call: ast.Call, into: Var) -> bool:
        """``__import__("jax")``: once the function is known to be an importer, ``into`` holds the module."""
        module = _literal(call.args[0]) if call.args else None
        chain = dotted_name(call.func)
        if module is None or chain is None:
            return False
        root, attributes = chain
        self._edge(_IMPORT, self.resolve(root), into, (tuple(attributes), module))
        return True

    def _modules_entry_edge(self, node: ast.Subscript, into: Var) -> None:
        """``sys.modules["jax"]``: the module itself, once the container is known to be ``sys.modules``."""
        module, chain = _literal(node.slice), dotted_name(node.value)
        if module is not None and chain is not None:
            root, attributes = chain
            self._edge(_ENTRY, self.resolve(root), into, (tuple(attributes), module))

    def _static_getattr(self, call) -> str | None:
        """``getattr(x, "name")`` with the builtin ``getattr``: an attribute access spelled as a call."""
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "getattr"
                and len(call.args) >= 2 and self.resolve(call.func).paths.keys() == {"builtins.getattr"}):
            return _literal(call.args[1])
        return None

    def _edge(self, kind: str, source: Var, target: Var, data=()) -> None:
        edge = (kind, source, target, data)
        source.edges.append(edge)
        self._edges.append(edge)

    def _solve(self) -> None:
        """Carry values along the edges until nothing changes (a worklist: linear, see the module's doc)."""
        queue = deque(self._edges)
        self._edges = []
        while queue:
            edge = queue.popleft()
            self.work.step()
            if _carry(*edge):
                queue.extend(edge[2].edges)

    # -- looking names up ----------------------------------------------------------------------------------

    def resolve(self, root: ast.Name) -> Var:
        """What the name ``root`` (a Name node) may be bound to, where it is read."""
        scope = self.scope_of.get(id(root))
        return self._lookup(root.id, scope)[0] if scope is not None else self._default(root.id)

    def _lookup(self, name: str, scope: Scope) -> tuple[Var, str, Scope | None]:
        """(the variable, "local" / "global" / "default", the scope it lives in).

        A global may hold what *any* cell bound to it, this cell's own binding included: the cells can run
        in any order, and a function reads its globals when it is called, so ``g = jax.grad`` in a cell
        below the solution replaces the solution's own ``g`` by the time the test cell runs.
        """
        current = scope
        while current.kind != "module":
            if name in current.globals:
                break
            if name in current.locals and name not in current.nonlocals and (
                    current.kind != "class" or current is scope):
                return current.vars.setdefault(name, Var()), "local", current
            current = current.parent
        if name in self.global_vars:
            return self.global_vars[name], "global", current.module
        return self._default(name), "default", None

    def _default(self, name: str) -> Var:
        """What a name means when no cell binds it: a builtin, IPython's, a habit (``np``), a star import."""
        if name not in self._defaults:
            if name in HARMLESS_NAMES:
                paths = []
            elif ipython_name(name):
                paths = [f"IPython.{name}"]
            elif name in AD_LIBRARIES:
                paths = [name]
            elif name in DEFAULT_NAMES:
                paths = [DEFAULT_NAMES[name]]
            elif hasattr(builtins, name):
                paths = [f"builtins.{name}"]
            else:
                paths = [f"{module}.{name}" for module in self.stars]
            self._defaults[name] = Var(paths)
        return self._defaults[name]

    def unbound(self, root: ast.Name) -> bool:
        """Does no cell bind the name ``root`` where it is read (so that it comes from builtins or IPython)?"""
        scope = self.scope_of.get(id(root))
        return scope is None or self._lookup(root.id, scope)[1] == "default"

    def bound_in_notebook(self, name: str) -> bool:
        """Does some cell bind ``name`` at top level (so that it shadows a magic or an IPython name)?"""
        return name in self.global_vars

    def values(self, node) -> tuple[list[Value], bool]:
        """(the values, overflow) of the dotted name ``node`` (``a.b.c``)."""
        root, attributes = dotted_name(node)
        var = self.resolve(root)
        return sorted(var.values(attributes), key=_order), var.overflow

    def paths(self, node) -> list[str]:
        """The modules and module attributes an expression may evaluate to (sorted)."""
        found: set[str] = set()
        pending = [node]
        while pending:
            current = pending.pop()
            chain = dotted_name(current)
            if chain is not None and isinstance(current.ctx, ast.Load):
                root, attributes = chain
                found.update(v.path for v in self.resolve(root).values(attributes) if v.path)
            elif isinstance(current, ast.NamedExpr):
                pending.append(current.value)
            elif isinstance(current, ast.IfExp):
                pending += [current.body, current.orelse]
            elif isinstance(current, ast.BoolOp):
                pending += current.values
            elif isinstance(current, ast.Call):
                imported = self.dynamic_import(current)
                attribute = self._static_getattr(current)
                if imported is not None:
                    function, module = imported
                    found.add(module.split(".")[0] if function == "builtins.__import__" else module)
                elif attribute is not None:
                    found.update(f"{path}.{attribute}" for path in self.paths(current.args[0]))
            elif isinstance(current, ast.Subscript) and (module := self.modules_entry(current)) is not None:
                found.add(module)
        return sorted(found)

    def foreign(self, node) -> list[Value]:
        """What the dotted name ``node`` may be bound to by *other* cells (and builtins, star imports)."""
        root, attributes = dotted_name(node)
        scope = self.scope_of[id(root)]
        var, where, home = self._lookup(root.id, scope)
        if where == "default":
            return var.values(attributes)
        if where == "local":
            return []
        found = []
        for cell, bound in self.cell_vars.get(root.id, ()):
            self.work.step()
            if cell != scope.cell:
                found += bound.values(attributes)
        return found

    def dynamic_import(self, call: ast.Call) -> tuple[str, str] | None:
        """``__import__("jax")`` -> ("builtins.__import__", "jax"); None unless a module is imported by name."""
        module = _literal(call.args[0]) if call.args else None
        functions = sorted(set(self.paths(call.func)) & DYNAMIC_IMPORTS) if module is not None else []
        return (functions[0], module) if functions else None

    def modules_entry(self, node: ast.Subscript) -> str | None:
        """``sys.modules["jax"]`` -> "jax"."""
        if _literal(node.slice) is not None and "sys.modules" in self.paths(node.value):
            return _literal(node.slice)
        return None

    # -- what the checks ask -------------------------------------------------------------------------------

    def uses(self, cell) -> list[Use]:
        """Every reference in a cell: maximal dotted names, imports, imports by string (IPython's own calls
        excepted: the syntax they stand for is reported as such)."""
        if cell.index in self._uses:
            return self._uses[cell.index]
        found, stack = [], [cell.code.tree]
        while stack:
            current = stack.pop()
            if id(current) in cell.code.generated:
                continue
            if isinstance(current, (ast.Import, ast.ImportFrom)):
                found += [Use(current, path, [Value(path, ad_of(path))], "import") for path in import_paths(current)]
                continue
            chain = dotted_name(current)
            if chain is not None and isinstance(current.ctx, ast.Load):
                values, overflow = self.values(current)
                found.append(Use(current, dotted_text(current), values, "name", overflow))
                continue
            if isinstance(current, ast.Attribute) and not isinstance(current.ctx, ast.Load):
                stack.append(current.value)  # np.x = ...: the reference is to np
                continue
            module = None
            if isinstance(current, ast.Call):
                module = (self.dynamic_import(current) or (None, None))[1]
            elif isinstance(current, ast.Subscript):
                module = self.modules_entry(current)
            if module is not None:
                found.append(Use(current, module, [Value(module, ad_of(module))], "dynamic-import"))
            stack.extend(reversed(list(ast.iter_child_nodes(current))))
        self._uses[cell.index] = found
        return found

    def nodes(self, cell) -> list[ast.AST]:
        """Every node of a cell, in ``ast.walk`` order (walked once, for all the checks)."""
        if cell.index not in self._nodes:
            self._nodes[cell.index] = list(ast.walk(cell.code.tree))
        return self._nodes[cell.index]

    def is_own(self, node) -> bool:
        """Is ``node`` an object of the student's own making, whose private attributes are theirs to use?

        ``self`` (a method's first parameter, never rebound), ``super()`` in a method, a function or class the
        notebook defines, or an instance of such a class (``v = Var(x)``).  Anything else -- a parameter, the
        result of a call -- may be the grader's.
        """
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super":
            scope = self.scope_of.get(id(node))
            while scope is not None and scope.kind != "module" and scope.self_name is None:
                scope = scope.parent
            return scope is not None and scope.self_name is not None and not node.args
        if not isinstance(node, ast.Name):
            return False
        var, where, home = self._lookup(node.id, self.scope_of[id(node)])
        bindings = [site for site in var.sites if site.kind != "mutate"]  # self.x = ...: still self
        if where == "local" and node.id in home.params:
            return home.self_name == node.id and not bindings
        return bool(bindings) and all(site.kind == "def" or (site.kind == "alias" and self._own_instance(site.node))
                                      for site in bindings)

    def method_using_private_self(self, node) -> bool:
        """Is ``node`` (``C.m``) a method of the student's class that uses ``self._x``, taken through the class?

        Called as ``C.m(obj)``, its ``self`` is whatever ``obj`` is: the grader's object's private attributes
        would be read under the name ``self``.
        """
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
            return False
        for site in self.resolve(node.value).sites:
            scope = self.class_scopes.get(id(site.node)) if isinstance(site.node, ast.ClassDef) else None
            method = scope.methods.get(node.attr) if scope is not None else None
            if method is not None and method.reads_private:
                return True
        return False

    def _own_instance(self, expression) -> bool:
        if not isinstance(expression, ast.Call):
            return False
        chain = dotted_name(expression.func)
        if chain is None:
            return False
        bindings = [site for site in self.resolve(chain[0]).sites if site.kind != "mutate"]
        return bool(bindings) and all(isinstance(site.node, ast.ClassDef) for site in bindings)

    def in_alias_position(self, node) -> bool:
        """Is the module expression ``node`` only given another name (``xp = np``, ``jnp if c else np``)?

        Anywhere else -- an argument, a container, a return value, a default, an attribute of an object --
        a module escapes, and what is reached through it later cannot be followed.
        """
        child, parent = node, self.parent_of.get(id(node))
        while isinstance(parent, (ast.IfExp, ast.BoolOp)) and getattr(parent, "test", None) is not child:
            child, parent = parent, self.parent_of.get(id(parent))
        if isinstance(parent, (ast.Expr, ast.Compare)) or (isinstance(parent, ast.Attribute) and child is node):
            return True  # a notebook showing the module; ``xp is np``; ``np.x = ...`` (the monkeypatch rule's)
        if isinstance(parent, ast.Assign) and parent.value is child:
            targets = parent.targets
        elif isinstance(parent, (ast.AnnAssign, ast.NamedExpr)) and parent.value is child:
            targets = [parent.target]
        else:
            return False
        return all(isinstance(t, ast.Name) and self.scope_of[id(t)].kind != "class" for t in targets)

    def parent(self, node):
        return self.parent_of.get(id(node))


def _carry(kind: str, source: Var, target: Var, data) -> bool:
    """Carry ``source``'s value along one edge into ``target``; True if ``target`` changed."""
    if target.overflow:
        return False
    if source.overflow:
        target.overflow = True
        return True
    if kind == _ALIAS:
        suffix = "".join("." + a for a in data)
        return target.join([path + suffix for path in source.paths], source.ad)
    if kind == _STRIP:
        suffix = "".join("." + a for a in data)
        ad = source.ad or next(filter(None, (ad_of(path + suffix) for path in source.paths)), None)
        return target.join((), ad)
    if kind == _TRUST:
        return target.join(source.paths, None)
    attributes, module = data
    suffix = "".join("." + a for a in attributes)
    functions = {path + suffix for path in source.paths}
    if kind == _IMPORT and functions & DYNAMIC_IMPORTS:
        returns_top = functions & DYNAMIC_IMPORTS == {"builtins.__import__"}  # __import__("a.b") returns a
        return target.join([module.split(".")[0] if returns_top else module], None)
    if kind == _ENTRY and "sys.modules" in functions:
        return target.join([module], None)
    return False


def dotted_name(node) -> tuple[ast.Name, list[str]] | None:
    """``a.b.c`` as (the Name ``a``, ["b", "c"]); None for anything that is not a plain dotted name."""
    attributes = []
    while isinstance(node, ast.Attribute):
        attributes.append(node.attr)
        node = node.value
    return (node, attributes[::-1]) if isinstance(node, ast.Name) else None


def dotted_text(node, limit: int = 60) -> str:
    """``a.b.c`` as written, shortened to ``limit`` characters (built from parts: no recursion)."""
    root, attributes = dotted_name(node)
    text = ".".join([root.id, *attributes])
    return text if len(text) <= limit else text[:limit - 3] + "..."


def import_paths(node) -> list[str]:
    """What an import statement imports, as dotted paths (a relative import: the student's own package)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        return []
    return [node.module if alias.name == "*" else f"{node.module}.{alias.name}" for alias in node.names]


def _literal(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _order(value: Value):
    return value.path or "", value.ad or ""
