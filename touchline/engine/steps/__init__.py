"""One module per step type; each runs over every enrollment standing on the step."""
