"""Comparing a recorded report with a replay's: what counts as a difference, and how it reads."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from vatel.app.replay_diff import compare_reports, format_comparison, word_diff

pytestmark = pytest.mark.unit


def report() -> dict[str, Any]:
    return {
        "messages": {"in": {"response_audio": 10, "interruption": 1}, "out": {"input_audio": 50}},
        "user_transcripts": ["book a table for two"],
        "turns": [
            {"turn_id": "t0", "latency": None, "interrupted": False, "text": ""},
            {"turn_id": "t1", "latency": 0.5, "interrupted": True, "text": "Done."},
        ],
        "latency": {"count": 1, "mean": 0.5, "p50": 0.5, "max": 0.5},
        "interruptions": 1,
        "tool_calls": [{"name": "book_table"}],
    }


def test_word_diff() -> None:
    assert word_diff("book a table for two", "book a cable for two") == "book a [-table-] {+cable+} for two"
    assert word_diff("", "hello") == "{+hello+}"
    assert word_diff("hello", "") == "[-hello-]"
    assert word_diff("same words", "same  words") == "same words"


def test_the_same_report_has_no_differences_even_with_other_latencies() -> None:
    now = copy.deepcopy(report())
    now["turns"][1]["latency"] = 0.9
    now["turns"][1]["turn_id"] = "another-id"
    comparison = compare_reports(report(), now)
    assert comparison["same"] is True and comparison["differences"] == []
    assert comparison["turns"][1]["latency"] == [0.5, 0.9]
    text = format_comparison(comparison, "replay of x")
    assert text.splitlines()[0] == "replay of x: no differences"
    assert "t1 / another-id" in text and "0.500" in text and "0.900" in text


def test_each_kind_of_difference_is_listed() -> None:
    now = copy.deepcopy(report())
    now["messages"]["in"] = {"response_audio": 8}
    now["user_transcripts"] = ["book a cable for two", "and a drink"]
    now["turns"][1]["text"] = "Sorry."
    now["interruptions"] = 0
    now["tool_calls"] = []
    comparison = compare_reports(report(), now)
    assert comparison["differences"] == [
        "interruption received: 1 recorded, 0 now",
        "response_audio received: 10 recorded, 8 now",
        "user transcript 1: book a [-table-] {+cable+} for two",
        "user transcript 2: {+and a drink+}",
        "agent text 1: [-Done.-] {+Sorry.+}",
        "interruptions: 1 recorded, 0 now",
        "tool calls: book_table recorded, none now",
    ]
    assert comparison["messages"]["in"]["interruption"] == [1, 0]
    text = format_comparison(comparison, "replay")
    assert text.splitlines()[0] == "replay: 7 differences"
    assert "  in  response_audio                      10         8  *" in text
    assert text.rstrip().endswith("- tool calls: book_table recorded, none now")
