"""The seven pipeline stages, one module each: plain functions with typed inputs and outputs.

They know nothing of ClearML's pipeline API; ``balldet.pipeline`` wires them together.
"""

STAGE_NAMES = (
    "get_config",
    "process_config",
    "prepare_data",
    "add_tags_to_pipeline",
    "convert_data",
    "train_model",
    "test_model",
)
