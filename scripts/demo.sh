#!/usr/bin/env bash
# The embedded default: synthetic football frames, ClearML offline, CPU. Prints the results table.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/ensure_env.sh
export ENV_FOR_DYNACONF="${ENV_FOR_DYNACONF:-local_debug}"
balldet datasets synth
exec balldet run \
  --config_name aicska/object_detection/ultralytics/ball/251125_1200_yolov8n_synth_demo.yaml \
  --model_type ultralytics \
  --project aicska
