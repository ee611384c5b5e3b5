"""An idle stack keeps the runs list quiet: no deployment is scheduled more often than
hourly, the continuous run's window covers its interval (one is always polling), and the
hourly safety net runs only when no continuous run is alive."""

import yaml

from touchline.config import PROJECT_ROOT


def _deployments() -> dict[str, dict]:
    config = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    return {d["name"]: d for d in config["deployments"]}


def test_no_deployment_runs_more_often_than_hourly() -> None:
    for name, deployment in _deployments().items():
        for schedule in deployment.get("schedules", []):
            assert schedule.get("interval", 3600) >= 3600, name
            assert schedule.get("slug"), f"{name}: its schedule needs a slug the UI can show"


def test_the_continuous_window_covers_its_interval_and_the_safety_net_defers_to_it() -> None:
    deployments = _deployments()
    continuous = deployments["advance-continuously"]
    [schedule] = continuous["schedules"]
    assert continuous["parameters"]["minutes"] * 60 >= schedule["interval"]
    assert deployments["advance-journeys"]["parameters"] == {"unless_polling": True}
