"""prefect.yaml names flows that exist, with parameters they accept."""

import importlib.util
import inspect

import yaml
from prefect import Flow

from touchline.config import PROJECT_ROOT


def load(entrypoint: str) -> Flow:
    path, name = entrypoint.split(":")
    spec = importlib.util.spec_from_file_location(f"deployment_{name}", PROJECT_ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def test_every_deployment_points_at_a_flow_with_its_parameters() -> None:
    config = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    assert config["deployments"]
    for deployment in config["deployments"]:
        flow = load(deployment["entrypoint"])
        assert isinstance(flow, Flow), deployment["name"]
        accepted = set(inspect.signature(flow.fn).parameters)
        assert set(deployment.get("parameters", {})) <= accepted, deployment["name"]
        assert deployment["work_pool"]["name"] == "touchline"


def test_effectiveness_is_relearned_daily() -> None:
    config = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    [refresh] = [d for d in config["deployments"] if d["name"] == "refresh-effectiveness"]
    assert refresh["entrypoint"] == "flows/refresh.py:refresh_effectiveness"
    [schedule] = refresh["schedules"]
    minute, hour, *every_day = schedule["cron"].split()
    assert every_day == ["*", "*", "*"] and minute.isdigit() and hour.isdigit()
