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

The work is done by :mod:`balldet.pipeline.agent`, ordinary code the tests import directly; the
rendered scripts themselves are tested too (``tests/test_rendered_steps.py``).
"""


def get_config_step(config_name: str, config_content: str, env: str):
    from balldet.pipeline.agent import get_config_on_agent

    return get_config_on_agent(config_name, config_content, env)


def process_config_step(loaded, model_type: str, env: str):
    from balldet.pipeline.agent import process_config_on_agent

    return process_config_on_agent(loaded, model_type, env)


def prepare_data_step(config, env: str):
    from balldet.pipeline.agent import prepare_data_on_agent

    return prepare_data_on_agent(config, env)


def add_tags_to_pipeline_step(config, env: str):
    from balldet.pipeline.agent import add_tags_on_agent

    return add_tags_on_agent(config, env)


def convert_data_step(config, data, env: str):
    from balldet.pipeline.agent import convert_data_on_agent

    return convert_data_on_agent(config, data, env)


def train_model_step(config, data, converted, env: str):
    from balldet.pipeline.agent import train_model_on_agent

    return train_model_on_agent(config, data, converted, env)


def test_model_step(config, data, trained, train_task_id: str, env: str):
    from balldet.pipeline.agent import test_model_on_agent

    return test_model_on_agent(config, data, trained, train_task_id, env)
