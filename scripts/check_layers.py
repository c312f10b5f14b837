#!/usr/bin/env python3
"""Checks the code against the module table of ARCHITECTURE.md (docs/ARCHITECTURE.md here).

  - a module includes only the modules it may use (and what those may use, transitively);
  - the chain layer sees only the engine's interface, not the engine behind it;
  - every module it includes is a link dependency named in its CMakeLists.txt (llmchain_module);
  - no cycle among the modules as the includes connect them;
  - no source file over 800 lines.

Usage: check_layers.py [REPO_ROOT]. Prints each violation on stderr and exits 1 if any.
"""
import os
import re
import sys

# module -> the modules it may use directly (the table's "may use" column).
ALLOWED = {
    "base": [],
    "gguf": ["base"],
    "kernels": ["base"],
    "tokenizer": ["base", "gguf"],
    "chat": ["base"],
    "model": ["base", "gguf", "kernels"],
    "sampling": ["base", "tokenizer"],
    "engine": ["model", "tokenizer", "chat", "sampling"],
    "http": ["base"],
    "chain": ["base", "http", "engine", "chat"],
    "server": ["http", "engine", "chain"],
    "rpc": ["engine"],
    "gateway": ["http", "chain", "rpc", "server"],
}
# What a module that uses "engine" through its interface may include of it.
ENGINE_INTERFACE = {"engine/engine.h", "engine/generation.h", "engine/tool_calls.h", "engine/rerank.h"}
INTERFACE_ONLY = {"chain"}
MAX_LINES = 800
SOURCE_DIRS = ["src", "apps", "tests", "fuzz", "bench", "examples"]
EXTS = (".h", ".cpp", ".cc", ".mjs", ".js", ".py", ".sh")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def cmake_link_deps(cmake_file, module):
    """The arguments of llmchain_module(MODULE ...) in cmake_file, ${VAR}s of set(VAR ...) expanded."""
    with open(cmake_file, encoding="utf-8") as fh:
        text = re.sub(r"#[^\n]*", "", fh.read())
    variables = {m.group(1): m.group(2).split() for m in re.finditer(r"set\(\s*(\w+)\s+([^)]*)\)", text)}
    call = re.search(r"llmchain_module\(\s*" + re.escape(module) + r"\b([^)]*)\)", text)
    if not call:
        return None
    deps = []
    for arg in call.group(1).split():
        v = re.fullmatch(r"\$\{(\w+)\}", arg)
        deps.extend(variables.get(v.group(1), []) if v else [arg])
    return set(deps)


def closure(module):
    seen, todo = set(), list(ALLOWED[module])
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(ALLOWED[m])
    return seen


def find_cycle(graph):
    state = {}

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path + [node, nxt]
            if state.get(nxt) is None:
                found = visit(nxt, path + [node])
                if found:
                    return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node, [])
            if found:
                return found[found.index(found[-1]):]
    return None


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    problems = []
    src = os.path.join(root, "src")
    modules = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    for m in modules:
        if m not in ALLOWED:
            problems.append(f"src/{m}/: a module the table does not have")
    graph = {m: set() for m in modules}
    for m in modules:
        if m not in ALLOWED:
            continue
        may = closure(m)
        for dirpath, _, files in os.walk(os.path.join(src, m)):
            for f in sorted(files):
                if not f.endswith((".h", ".cpp")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
                for inc in INCLUDE.findall(text):
                    dep = inc.split("/", 1)[0]
                    if "/" not in inc or dep == m or dep not in ALLOWED:
                        continue  # same module, generated code (llmchain/v1/...), or a local header
                    graph[m].add(dep)
                    if dep not in may:
                        problems.append(f"{rel}: includes {inc}, but {m}/ may not use {dep}/")
                    elif dep == "engine" and m in INTERFACE_ONLY and inc not in ENGINE_INTERFACE:
                        problems.append(f"{rel}: includes {inc}, beyond the engine interface")
    for m in modules:
        if m not in ALLOWED:
            continue
        cmake_file = os.path.join(src, m, "CMakeLists.txt")
        deps = cmake_link_deps(cmake_file, m) if os.path.exists(cmake_file) else None
        if deps is None:
            problems.append(f"src/{m}/CMakeLists.txt: no llmchain_module({m} ...)")
            continue
        for dep in sorted(graph[m]):
            names = {f"llmchain_{dep}"} | ({"llmchain_engine_api"} if dep == "engine" else set())
            if not names & deps:
                problems.append(f"src/{m}/: includes {dep}/ but does not link llmchain_{dep} (src/{m}/CMakeLists.txt)")
    cycle = find_cycle(graph)
    if cycle:
        problems.append("modules include each other in a cycle: " + " -> ".join(cycle))
    for d in SOURCE_DIRS:
        for dirpath, dirnames, files in os.walk(os.path.join(root, d)):
            dirnames[:] = [x for x in dirnames if x not in ("node_modules", "data", "corpus")]
            for f in sorted(files):
                if f.endswith(EXTS):
                    path = os.path.join(dirpath, f)
                    with open(path, encoding="utf-8", errors="replace") as fh:
                        n = sum(1 for _ in fh)
                    if n > MAX_LINES:
                        problems.append(f"{os.path.relpath(path, root)}: {n} lines (at most {MAX_LINES})")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print(f"{len(modules)} modules, layering, link dependencies and file sizes as the table says", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
