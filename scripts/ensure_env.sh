#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv and installs balldet into it.
# Sourced by demo.sh and test.sh; re-installs only when pyproject.toml or constraints.txt changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python_bin="${BALLDET_PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3
stamp="$venv/.balldet-installed"
want="$(cat "$root/pyproject.toml" "$root/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "balldet: setting up $venv (first time: a few minutes, torch is large)..." >&2
  [ -x "$venv/bin/python" ] || "$python_bin" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # pip (not uv/poetry): it finds the local torch wheels on the development machines.
  "$venv/bin/python" -m pip install --quiet -c "$root/constraints.txt" -e "$root[test,export]"
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
