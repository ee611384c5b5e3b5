"""Touchline as a deployed system on one machine (``touchline serve`` / ``make serve``)."""

from touchline.serve.processes import StackError
from touchline.serve.stack import RunningStack, StackPlan, start_stack, stop_stack

__all__ = ["RunningStack", "StackError", "StackPlan", "start_stack", "stop_stack"]
