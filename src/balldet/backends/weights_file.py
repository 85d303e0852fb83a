"""Which backend made a weights file, read from the file without running any of it.

torch saves a checkpoint as a zip archive whose ``data.pkl`` names, as pickle globals, the classes
it was made of: ``ultralytics.nn.tasks.DetectionModel`` for ultralytics, ``models.yolo.Model`` (yolov5
run from its repository) or ``yolov5.models.yolo.Model`` (the pip package) for yolov5. Reading the
pickle's opcodes finds those names without unpickling (no code of the file runs, no backend is
imported).
"""

from __future__ import annotations

import pickletools
import zipfile
from pathlib import Path

from balldet.errors import UsageError

# model type -> module prefixes of the classes its checkpoints pickle
MODULES_OF_BACKEND = {
    "ultralytics": ("ultralytics.",),
    "yolov5": ("models.", "yolov5.models.", "yolov5.utils."),
}


def pickled_modules(path: Path) -> set[str]:
    """Modules of the globals the checkpoint's pickle refers to; empty when it is not a torch zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            if name is None:
                return set()
            data = archive.read(name)
    except (OSError, zipfile.BadZipFile):
        return set()
    modules: set[str] = set()
    strings: list[str] = []
    try:
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name in ("GLOBAL", "INST"):
                modules.add(str(arg).split(" ", 1)[0])
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                modules.add(strings[-2])
            if isinstance(arg, str):
                strings.append(arg)
    except Exception:  # noqa: BLE001  (a cut or foreign pickle: what was read so far is all there is)
        pass
    return modules


def backend_of_weights(path: Path, option: str = "--weights") -> str:
    """The model type whose checkpoints ``path`` looks like; a UsageError naming ``option`` when it
    cannot be told."""
    modules = pickled_modules(Path(path))
    found = [kind for kind, prefixes in MODULES_OF_BACKEND.items()
             if any(m.startswith(prefixes) for m in modules)]
    if len(found) == 1:
        return found[0]
    why = "names classes of both backends" if found else "is not a checkpoint of either backend"
    raise UsageError([(option, f"{path} {why}, so which backend reads it cannot be told; give --model_type "
                       f"({' or '.join(MODULES_OF_BACKEND)})")])
