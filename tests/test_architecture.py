"""The layering of docs/architecture.md holds, and the parts that promise to run without the extras do."""

import subprocess
import sys

from importlinter.cli import lint_imports

# Importing these must not need PyTorch or Ray: a server or a data-generation worker installs neither.
WITHOUT_EXTRAS = (
    "mpgenie.world",
    "mpgenie.net.server",
    "mpgenie.net.client",
    "mpgenie.platform",
    "mpgenie.api.app",
    "mpgenie.dataset.generate",
    "mpgenie.dataset.qc",
    "mpgenie.genie.streamer",
    "mpgenie.cli",
    "mpgenie.agents.policy",
    "mpgenie.agents.scripted",
    "mpgenie.agents.vector",  # the vectorised training path needs no PettingZoo
)


def test_imports_run_down_the_layers() -> None:
    assert lint_imports(no_cache=True) == 0  # the contracts live in pyproject.toml; failures are printed


def test_core_servers_and_generator_import_without_the_extras() -> None:
    # None in sys.modules makes `import torch` raise ImportError, as on a machine without the extras.
    code = (
        "import sys\n"
        "for extra in ('torch', 'ray', 'pettingzoo', 'gymnasium'): sys.modules[extra] = None\n"
        f"for name in {WITHOUT_EXTRAS!r}: __import__(name)\n"
        "import numpy as np\n"
        "from mpgenie.world import World, WorldConfig\n"
        "w = World(WorldConfig(seed=1)); w.add_players(4); w.step(np.zeros(w.num_slots, dtype=np.int8))\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_version_loads_no_pillar() -> None:
    code = (
        "import sys, runpy; sys.argv = ['mpgenie', 'version']\n"
        "try:\n    runpy.run_module('mpgenie.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'torch', 'fastapi', 'numba', 'mpgenie.world') if m in sys.modules]\n"
        "print('heavy:', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "0.1.0"
    assert lines[-1] == "heavy: []"
