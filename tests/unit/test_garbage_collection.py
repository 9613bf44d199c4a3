"""The program's garbage-collector setting (components/stack.py ``tune_garbage_collection``;
docs/performance.md, "The program's garbage collection")."""

from __future__ import annotations

import gc

from hardened_doks.stack import GC_YOUNG_THRESHOLD, tune_garbage_collection
from hardened_doks.tools.offline import run_stack


def test_the_program_collects_its_youngest_generation_less_often_and_keeps_a_larger_setting() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)  # CPython's default
        run_stack("dev")  # the real __main__.py
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 10)
        gc.set_threshold(50_000, 20, 10)
        tune_garbage_collection()
        assert gc.get_threshold() == (50_000, 20, 10), "a larger setting of the program's own was lowered"
    finally:
        gc.set_threshold(*saved)
