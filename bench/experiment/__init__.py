"""The experiment runner behind bench/run-experiment.py (docs/experiments.md, "Experiments")."""
