"""An isolated engine's worker runs rerankwatch in a venv of its own that holds only the engine's
requirements and WORKER_REQUIREMENTS: every third-party package the worker imports must be
among them (a module that starts importing a new library breaks every isolated engine)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from rerankwatch.engines.environments import WORKER_REQUIREMENTS

# imported only when present, never needed (pyarrow's optional pickling)
OPTIONAL = {"cloudpickle", "cython_runtime"}
# what the distributions in WORKER_REQUIREMENTS install as import names
PROVIDED_BY = {"pydantic": {"pydantic", "pydantic_core", "annotated_types", "typing_extensions",
                            "typing_inspection"},
               "pydantic-settings": {"pydantic_settings", "dotenv"}}


def test_the_worker_imports_only_what_its_venv_installs() -> None:
    probe = ("import sys; before = set(sys.modules); import rerankwatch.engines.worker, "
             "rerankwatch.engines; import json; print(json.dumps(sorted({m.split('.')[0] for m "
             "in set(sys.modules) - before})))")
    found = json.loads(subprocess.run([sys.executable, "-c", probe], check=True, text=True,
                                      capture_output=True).stdout)
    names = {re.split(r"[<>=!~ ]", r)[0] for r in WORKER_REQUIREMENTS}
    installed = set().union(*(PROVIDED_BY.get(n, {n.replace("-", "_")}) for n in names))
    third_party = {m for m in found if m not in sys.stdlib_module_names
                   and not m.startswith("_") and m != "rerankwatch"}
    assert third_party - installed - OPTIONAL == set(), (
        "the isolated worker imports packages its venv does not install: add them to "
        "engines/environments.py WORKER_REQUIREMENTS")
