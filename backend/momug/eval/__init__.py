"""Evaluation: physical checks and prompt-following probes that need no learned evaluator."""
