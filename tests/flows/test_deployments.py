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


def test_every_flow_has_a_deployment_and_triggers_fill_its_parameters() -> None:
    config = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    deployed = {d["entrypoint"] for d in config["deployments"]}
    for path in sorted((PROJECT_ROOT / "flows").glob("*.py")):
        if path.name.startswith("_"):
            continue
        module_path = f"flows/{path.name}"
        spec = importlib.util.spec_from_file_location(f"flows_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, value in vars(module).items():
            if isinstance(value, Flow) and value.fn.__module__ == module.__name__:
                assert f"{module_path}:{name}" in deployed, (
                    f"{module_path}:{name} has no deployment"
                )
    for deployment in config["deployments"]:
        accepted = set(inspect.signature(load(deployment["entrypoint"]).fn).parameters)
        for trigger in deployment.get("triggers", []):
            assert set(trigger["parameters"]) <= accepted, deployment["name"]


def test_genesis_events_reach_intake_through_a_prefect_trigger() -> None:
    config = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    [intake] = [d for d in config["deployments"] if d["name"] == "ingest-event"]
    [trigger] = intake["triggers"]
    assert "customer.*" in trigger["expect"]
    assert trigger["parameters"] == {"event": "{{ event.payload }}"}


def test_journey_report_runs_on_demand_for_a_journey() -> None:
    config = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    [report] = [d for d in config["deployments"] if d["name"] == "journey-report"]
    flow = load(report["entrypoint"])
    # The operator names the journey when running it: a required parameter, no schedule.
    assert inspect.signature(flow.fn).parameters["journey"].default is inspect.Parameter.empty
    assert not report.get("schedules")


def test_tripwires_run_daily() -> None:
    config = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    [tripwires] = [d for d in config["deployments"] if d["name"] == "flag-disengaging"]
    assert tripwires["entrypoint"] == "flows/tripwires.py:flag_disengaging_customers"
    [schedule] = tripwires["schedules"]
    minute, hour, *every_day = schedule["cron"].split()
    assert every_day == ["*", "*", "*"] and minute.isdigit() and hour.isdigit()
