#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv and installs balldet into it.
# Sourced by demo.sh and test.sh; re-installs only when pyproject.toml or constraints.txt changed.
# For the tests (test.sh, or BALLDET_LABEL_STUDIO_ENV=1) it also makes .venv-label-studio: the Label Studio
# server and datumaro that the labelling-tool tests run, apart from balldet's venv (they pin numpy, OpenCV,
# pillow and pandas below balldet's); re-installed only when scripts/label-studio-server.txt changed.
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
  "$venv/bin/python" -m pip install --quiet -c "$root/constraints.txt" -e "$root[test,export,label]"
  echo "$want" > "$stamp"
fi
case "$(basename "$0")" in test.sh) label_studio_default=1 ;; *) label_studio_default=0 ;; esac
if [ "${BALLDET_LABEL_STUDIO_ENV:-$label_studio_default}" = "1" ]; then
  ls_venv="$root/.venv-label-studio"
  ls_stamp="$ls_venv/.balldet-installed"
  ls_want="$(sha256sum < "$root/scripts/label-studio-server.txt" | cut -d' ' -f1)"
  if [ ! -x "$ls_venv/bin/python" ] || [ "$(cat "$ls_stamp" 2>/dev/null)" != "$ls_want" ]; then
    echo "balldet: setting up $ls_venv (Label Studio for the tests; first time: a few minutes, about 1 GB)..." >&2
    [ -x "$ls_venv/bin/python" ] || "$python_bin" -m venv "$ls_venv"
    "$ls_venv/bin/python" -m pip install --quiet --upgrade pip
    "$ls_venv/bin/python" -m pip install --quiet -r "$root/scripts/label-studio-server.txt"
    echo "$ls_want" > "$ls_stamp"
  fi
fi
export PATH="$venv/bin:$PATH"
