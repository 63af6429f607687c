"""Forms a person answers in the Prefect UI, with a deadline.

A paused flow run waits for a ``RunInput``; Prefect's own pause timeout fails
the run, so the deadline is kept by a timer that moves the run back to
Running, and the flow then goes on with "no answer" (a promotion rejected, a
review left pending) instead of failing.
"""

from __future__ import annotations

import threading
from typing import TypeVar

from prefect import pause_flow_run
from prefect.client.orchestration import get_client
from prefect.context import get_run_context
from prefect.input import RunInput
from prefect.states import Running

Form = TypeVar("Form", bound=RunInput)

#: Prefect's own pause timeout, beyond the deadline: the timer always ends the
#: wait first, so Prefect never fails the run for want of an answer.
PAUSE_GRACE_SECONDS = 600


def _poll_seconds(timeout_seconds: int) -> int:
    # A reviewer waits for the flow to notice the answer: check every few seconds.
    return max(1, min(5, timeout_seconds // 10))


def wait_for_answer(form: type[Form], timeout_seconds: int, expired_message: str) -> Form | None:
    """Pause the flow run until a person submits ``form``; None when the deadline passes.

    At the deadline a timer moves the run from Paused back to Running, which
    ends Prefect's wait without input; an answer racing the deadline counts as
    late (None), so what happens never depends on a race.

    Args:
        form: A ``RunInput`` class, usually made with ``with_initial_data``.
        timeout_seconds: How long to wait for the answer.
        expired_message: Message of the Running state set at the deadline.

    Returns:
        The submitted form, or None.
    """
    run_id = get_run_context().flow_run.id
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(run_id, Running(message=expired_message), force=True)

    timer = threading.Timer(timeout_seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        answer = pause_flow_run(
            wait_for_input=form,
            timeout=timeout_seconds + PAUSE_GRACE_SECONDS,
            poll_interval=_poll_seconds(timeout_seconds),
        )
    except Exception:
        # Resumed by the timer, Prefect finds no input to load: that is the deadline.
        if not expired.is_set():
            raise
        answer = None
    finally:
        timer.cancel()
    if answer is None or expired.is_set():
        return None
    return answer
