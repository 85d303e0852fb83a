"""The stages as ClearML function steps, in the form ClearML can carry to an agent.

ClearML never imports this module on an agent. It renders each function below into a standalone
script, stores it on the controller task (the step's ``script.diff``), and the agent runs exactly
that script inside its own checkout of balldet's repository at the run's commit (see
``balldet.pipeline.remote``: the steps are built with ``repo=``/``repo_commit=`` and working folder
``src/``, so ``import balldet`` finds the checkout). The rules this module keeps, because the rendered
script is all an agent has:

- Nothing at module level but these functions. ClearML copies a module's top-level imports into
  every script, each wrapped in ``try:`` -- a ``from __future__`` import there is a SyntaxError -- so
  there are none (and the controller is built with ``skip_global_imports=True`` as well).
- Every import inside the function; nothing reached through globals or closures.
- String parameters are pipeline parameters (ClearML hands them over as text); the others are the
  results of earlier steps, which ClearML pickles as artifacts. Each function returns one picklable
  value (a pydantic model or a list), which becomes the step's artifact.

Each hands its arguments to :func:`balldet.pipeline.agent.run_step`, which runs the stage of the
table (``balldet.pipeline.spec``); the argument names are the table's: pipeline parameters, the
earlier steps' artifact names, ``<stage>_task_id``. The rendered scripts themselves are tested
(``tests/test_rendered_steps.py``).
"""


def get_config_step(config_name: str, config_content: str, env: str):
    from balldet.pipeline.agent import run_step

    return run_step("get_config", env, config_name=config_name, config_content=config_content)


def process_config_step(loaded, model_type: str, env: str):
    from balldet.pipeline.agent import run_step

    return run_step("process_config", env, loaded=loaded, model_type=model_type)


def prepare_data_step(config, env: str):
    from balldet.pipeline.agent import run_step

    return run_step("prepare_data", env, config=config)


def add_tags_to_pipeline_step(config, env: str):
    from balldet.pipeline.agent import run_step

    return run_step("add_tags_to_pipeline", env, config=config)


def convert_data_step(config, data, env: str):
    from balldet.pipeline.agent import run_step

    return run_step("convert_data", env, config=config, data=data)


def train_model_step(config, data, converted, env: str):
    from balldet.pipeline.agent import run_step

    return run_step("train_model", env, config=config, data=data, converted=converted)


def test_model_step(config, data, trained, train_model_task_id: str, env: str):
    from balldet.pipeline.agent import run_step

    return run_step("test_model", env, config=config, data=data, trained=trained,
                    train_model_task_id=train_model_task_id)
