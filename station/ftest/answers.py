"""Operator answers given up front on the command line (``station provision --answer led=yes``).

In the headless CLI nobody can be asked at run time, so operator steps are answered from flags;
a step with no flag is unanswered and fails with that reason. Names are checked against the plan
so a misspelt ``--answer`` does not quietly leave a step unanswered.
"""

from __future__ import annotations

from collections.abc import Iterable

from station.errors import ConfigError
from station.ftest.context import AskOperator
from station.profile.plan import TestPlan
from station.profile.schema import closest

YES = ("yes", "y", "true", "1", "pass", "ok")
NO = ("no", "n", "false", "0", "fail")


def parse_operator_answers(specs: Iterable[str], plan: TestPlan | None = None) -> AskOperator:
    """Turn ``["led=yes", "button=no"]`` into an ``ask_operator`` callable.

    Raises :class:`ConfigError` (CLI exit 2) for a malformed answer, or, when ``plan`` is given,
    for a name that is not an operator step of the plan.
    """
    answers = parse_answer_table(specs, plan)

    def ask(step: str, question: str, timeout_s: float) -> bool | None:
        return answers.get(step)

    return ask


def parse_answer_table(specs: Iterable[str], plan: TestPlan | None = None) -> dict[str, bool]:
    """``["led=yes"]`` → ``{"led": True}``, checked as :func:`parse_operator_answers` says."""
    answers: dict[str, bool] = {}
    operator_steps = [s.name for s in plan if s.kind == "operator"] if plan is not None else None
    for spec in specs:
        name, sep, word = spec.partition("=")
        name, word = name.strip(), word.strip().lower()
        if not sep or not name:
            raise ConfigError(f"--answer {spec!r}: expected STEP=yes or STEP=no")
        if word in YES:
            answer = True
        elif word in NO:
            answer = False
        else:
            raise ConfigError(f"--answer {spec!r}: the answer must be yes or no, got {word!r}")
        if operator_steps is not None and name not in operator_steps:
            known = ", ".join(operator_steps) or "none"
            raise ConfigError(
                f"--answer {spec!r}: {name!r} is not an operator step of the plan{closest(name, operator_steps)} "
                f"(operator steps: {known})"
            )
        if name in answers and answers[name] != answer:
            raise ConfigError(f"--answer: step {name!r} is answered both yes and no")
        answers[name] = answer
    return answers
