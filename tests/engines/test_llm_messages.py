"""The LLM brain's pure parts: the conversation as chat messages, tools both ways, the SSE
reader, streamed text cut into sentences, and the session variables."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vatel.server.engines.brain import AgentSetup, Entry, ToolRequest, ToolResult, Utterance
from vatel.server.engines.llm_messages import (
    UNANSWERED,
    BadToolArguments,
    chat_messages,
    offered_tools,
    tool_arguments,
)
from vatel.server.engines.llm_stream import DONE, Completion, StreamError, parse_line
from vatel.server.engines.placeholders import fill_variables
from vatel.server.engines.sentence_stream import SentenceStream, ThinkingFilter, speakable

pytestmark = pytest.mark.unit

ARGS = ({"name": "people", "type": "resolved", "dataType": "number", "value": 2},)


def call(call_id: str, name: str = "lookup") -> dict[str, Any]:
    arguments = json.dumps({"people": 2})
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


class TestChatMessages:
    def test_text_said_before_a_tool_call_joins_the_call(self) -> None:
        # The call core puts the turn's text at the turn's start, before its tool request.
        conversation: list[Entry] = [
            Utterance("user", "Book for two"),
            Utterance("assistant", "One moment."),
            ToolRequest("call-1", "lookup", ARGS),
            ToolResult("call-1", "ok"),
            Utterance("user", "Thanks"),
        ]
        assert chat_messages(AgentSetup(), conversation) == [
            {"role": "user", "content": "Book for two"},
            {"role": "assistant", "content": "One moment.", "tool_calls": [call("call-1")]},
            {"role": "tool", "tool_call_id": "call-1", "content": "ok"},
            {"role": "user", "content": "Thanks"},
        ]

    def test_an_unanswered_request_gets_an_error_output_and_an_orphan_result_is_dropped(self) -> None:
        conversation: list[Entry] = [
            Utterance("user", "Look it up"),
            ToolRequest("call-1", "lookup", ARGS),
            Utterance("user", "never mind"),
            ToolResult("call-9", "from nowhere"),
            Utterance("user", "   "),
        ]
        assert chat_messages(AgentSetup(prompt="  "), conversation) == [
            {"role": "user", "content": "Look it up"},
            {"role": "assistant", "content": None, "tool_calls": [call("call-1")]},
            {"role": "tool", "tool_call_id": "call-1", "content": UNANSWERED},
            {"role": "user", "content": "never mind"},
        ]

    def test_a_result_that_comes_after_a_user_utterance_stays_with_its_request(self) -> None:
        conversation: list[Entry] = [
            ToolRequest("call-1", "lookup", ARGS),
            Utterance("user", "hello?"),
            ToolResult("call-1", "found"),
        ]
        messages = chat_messages(AgentSetup(), conversation)
        assert [m["role"] for m in messages] == ["assistant", "tool", "user"]
        assert messages[1]["content"] == "found"


class TestOfferedTools:
    def test_tool_nodes_are_offered_and_bad_ones_skipped(self) -> None:
        nodes: list[dict[str, Any]] = [
            {"type": "tool", "name": "ok_tool"},
            {"type": "tool", "name": "bad name"},
            {"type": "tool", "name": "end_call"},
            {"type": "tool", "name": 5},
            {"type": "tool", "name": "arr", "parameters": {"type": "array"}},
            {"type": "tool", "name": "params", "parameters": "x"},
            {"type": "tool", "name": "desc", "description": ["x"]},
            {"type": "rule", "when": "hi", "say": "hello"},
            {"type": "end_call"},
            {"type": "tool", "name": "ok_tool", "description": "again"},
        ]
        toolbox = offered_tools(nodes)
        assert list(toolbox.tools) == ["ok_tool"]
        assert toolbox.end_call
        offered = toolbox.offered()
        assert [t["function"]["name"] for t in offered] == ["ok_tool", "end_call"]
        assert offered[0]["function"]["parameters"] == {"type": "object", "properties": {}}
        assert [problem.split(":")[0] for problem in toolbox.problems] == [
            "node 1",
            "node 2",
            "node 3",
            "node 4 (arr)",
            "node 5 (params)",
            "node 6 (desc)",
            "node 9 (ok_tool)",
        ]

    def test_no_nodes_no_tools(self) -> None:
        assert offered_tools(()).offered() == []


class TestToolArguments:
    def test_types_and_undeclared_tools(self) -> None:
        raw = '{"n": 1.5, "ok": true, "items": [1], "obj": {"a": 1}, "s": "x", "none": null}'
        descriptors = tool_arguments(raw, None)
        assert [(d["name"], d["dataType"]) for d in descriptors] == [
            ("n", "number"),
            ("ok", "boolean"),
            ("items", "array"),
            ("obj", "object"),
            ("s", "string"),
            ("none", "string"),
        ]
        assert all("required" not in d for d in descriptors)
        assert tool_arguments("", None) == ()
        assert tool_arguments("  ", None) == ()

    def test_a_missing_declared_parameter_is_null_with_its_declared_type(self) -> None:
        function = {"parameters": {"properties": {"count": {"type": "integer"}}, "required": ["count", 3]}}
        assert tool_arguments("{}", function) == (
            {"name": "count", "type": "resolved", "dataType": "number", "value": None, "required": True},
        )

    @pytest.mark.parametrize("raw", ["{", "[1]", '"text"', "5", "nan-ish", "[" * 5000])
    def test_garbage_is_refused(self, raw: str) -> None:
        with pytest.raises(BadToolArguments):
            tool_arguments(raw, None)

    def test_a_schema_of_garbage_is_tolerated(self) -> None:
        function: dict[str, Any] = {"parameters": {"properties": ["x"], "required": "x"}}
        assert tool_arguments('{"x": 1}', function)[0]["required"] is False


class TestStreamReader:
    def test_lines(self) -> None:
        assert parse_line("data: [DONE]") is DONE
        assert parse_line(": comment") is None
        assert parse_line("") is None
        assert parse_line("data:") is None
        assert parse_line('data:{"choices": []}') == {"choices": []}
        for bad in ["data: {", "data: 1", 'data: {"error": "boom"}']:
            with pytest.raises(StreamError):
                parse_line(bad)

    def test_tool_calls_by_index_and_text(self) -> None:
        completion = Completion()
        pieces = [
            {"index": 1, "id": "b", "function": {"name": "second", "arguments": "{}"}},
            {"index": 0, "id": "a", "function": {"name": "first", "arguments": '{"x"'}},
            {"index": 0, "function": {"name": "first", "arguments": ": 1}"}},
        ]
        for piece in pieces:
            assert completion.add({"choices": [{"delta": {"tool_calls": [piece]}}]}) == ""
        assert completion.add({"choices": [{"delta": {"content": "hi"}, "finish_reason": "stop"}]}) == "hi"
        assert completion.add({"usage": {"total_tokens": 3}}) == ""
        first = completion.first_call()
        assert first is not None and (first.id, first.name, first.arguments) == ("a", "first", '{"x": 1}')
        assert completion.finish_reason == "stop"

    def test_arguments_sent_as_an_object_and_pieces_without_index(self) -> None:
        completion = Completion()
        completion.add({"choices": [{"delta": {"tool_calls": [{"id": "a", "function": {"name": "f"}}]}}]})
        completion.add({"choices": [{"delta": {"tool_calls": [{"function": {"arguments": {"k": 1}}}]}}]})
        first = completion.first_call()
        assert first is not None and json.loads(first.arguments) == {"k": 1}

    @pytest.mark.parametrize(
        "chunk",
        [
            {"choices": ["x"]},
            {"choices": [{"delta": "x"}]},
            {"choices": [{"delta": {"content": ["x"]}}]},
            {"choices": [{"delta": {"tool_calls": ["x"]}}]},
            {"choices": [{"delta": {"tool_calls": [{"index": True}]}}]},
            {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": "f"}]}}]},
            {
                "choices": [
                    {"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "x" * 100_001}}]}}
                ]
            },
        ],
    )
    def test_garbage_chunks(self, chunk: dict[str, Any]) -> None:
        with pytest.raises(StreamError):
            Completion().add(chunk)


class TestSentences:
    def test_sentences_come_once_the_next_one_begins(self) -> None:
        stream = SentenceStream()
        assert stream.feed("Hello") == []
        assert stream.feed("! It costs 3") == ["Hello!"]
        assert stream.feed(".50 per") == []
        assert stream.feed(" item, Mr.") == []
        assert stream.feed(" Smith") == []
        assert stream.feed(". Next") == ["It costs 3.50 per item, Mr. Smith."]
        assert stream.flush() == ["Next"]
        assert stream.flush() == []

    def test_a_sure_end_is_said_at_once(self) -> None:
        stream = SentenceStream()
        assert stream.feed("Really") == []
        assert stream.feed("?") == ["Really?"]
        assert stream.feed(" Yes, it is") == []
        assert stream.feed(".") == ["Yes, it is."]
        assert stream.feed(' "Fine."') == ['"Fine."']
        for unsure in ["Ask Dr.", "It costs 3.", "Call Mrs.", "Done (mostly)"]:
            assert SentenceStream().feed(unsure) == [], unsure

    def test_a_long_sentence_is_cut_at_a_comma(self) -> None:
        stream = SentenceStream()
        words = ", ".join(["word word word word"] * 20)
        said = stream.feed(words)
        assert said and all(len(s) <= 200 for s in said)
        assert " ".join([*said, *stream.flush()]).replace(" ", "") == words.replace(" ", "")

    def test_markup_is_not_spoken(self) -> None:
        assert speakable("## **Menu**\n- `soup`") == "Menu soup"
        stream = SentenceStream()
        assert stream.feed("** ") == []
        assert stream.flush() == []


class TestVariables:
    def test_known_keys_any_case(self) -> None:
        variables = {"Name": "Ada", "city": "Paris"}
        assert fill_variables("{name} in { CITY }", variables, keep_unknown=True) == "Ada in Paris"

    def test_unknown_kept_for_a_model_and_dropped_for_speech(self) -> None:
        text = 'Say {missing}; JSON {"a": 1} stays'
        assert fill_variables(text, {}, keep_unknown=True) == text
        assert fill_variables(text, {}, keep_unknown=False) == 'Say ; JSON {"a": 1} stays'


class TestThinking:
    def test_reasoning_is_dropped_even_with_tags_split_across_pieces(self) -> None:
        thinking = ThinkingFilter()
        pieces = ["<th", "ink>The user wants", " hours.</thi", "nk>", "We open at ", "<", "nine."]
        assert "".join(thinking.feed(piece) for piece in pieces) + thinking.flush() == "We open at <nine."

    def test_text_around_a_thought_and_a_thought_left_open(self) -> None:
        thinking = ThinkingFilter()
        assert thinking.feed("Hi. <think>hmm</think> Bye. <think>never clo") == "Hi.  Bye. "
        assert thinking.flush() == ""
        assert ThinkingFilter().feed("a < b and c <t") == "a < b and c "
