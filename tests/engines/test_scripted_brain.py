"""The scripted brain (issue 5, "Brain" item 1): rules in the prompt and the nodes, matching,
arguments taken from the utterance, placeholders, the tool round trip, the end of the call, the
built-in behaviour, and garbage that must never raise."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from vatel.server.engines.brain import (
    AgentSetup,
    Brain,
    BrainEvent,
    CallTool,
    EndCall,
    Entry,
    Say,
    ToolRequest,
    ToolResult,
    Utterance,
)
from vatel.server.engines.scripted_args import extract_arguments, find_numbers, find_times
from vatel.server.engines.scripted_brain import BUILTIN_PROMPT, ScriptedBrain, plan_turn, split_sentences
from vatel.server.engines.scripted_rules import (
    Param,
    Phrase,
    Trigger,
    check_rules,
    load_script,
    parse_nodes,
    parse_prompt,
    tokenize,
)

pytestmark = pytest.mark.unit

DOCS = Path(__file__).parents[2] / "docs" / "scripted-brain.md"

RESTAURANT = """\
You are the host of a small restaurant. (Prose like this is ignored by the scripted brain.)
# lines starting with # are comments
when "hours" or "open" or "close": We are open from nine to five, Monday to Friday.
when "book" or "table" or "reservation": tool book_table(people: number, time: time, name: name) \
then say "Done: {output}"
when "bye" or "goodbye": Goodbye! -> end
when "story": First sentence. Second sentence! Third sentence?
when "who": You are talking to {agent_name}, {missing}ok.
default: I heard "{said}". Try asking about our hours, or say book a table for two at seven.
"""


def agent(prompt: str = RESTAURANT, nodes: Sequence[Mapping[str, Any]] = (), **variables: str) -> AgentSetup:
    return AgentSetup(prompt=prompt, nodes=nodes, variables=variables)


def user(text: str) -> list[Entry]:
    return [Utterance("user", text)]


def said(events: Sequence[BrainEvent]) -> str:
    return " ".join(event.text for event in events if isinstance(event, Say))


def values(call: BrainEvent) -> dict[str, Any]:
    assert isinstance(call, CallTool)
    return {arg["name"]: arg["value"] for arg in call.arguments}


class TestParsing:
    def test_rules_default_and_ignored_prose(self) -> None:
        script = parse_prompt(RESTAURANT)
        assert [rule.origin for rule in script.rules] == [f"prompt line {n}" for n in (3, 4, 5, 6, 7)]
        assert script.rules[0].triggers == tuple(Trigger((Phrase((w,)),)) for w in ("hours", "open", "close"))
        assert script.default is not None and script.default.say.startswith('I heard "{said}".')
        assert script.problems == ()

    def test_tool_rule(self) -> None:
        action = parse_prompt(RESTAURANT).rules[1].action
        assert action.tool is not None and action.tool.name == "book_table"
        assert action.tool.params == (Param("people", "number"), Param("time", "time"), Param("name", "name"))
        assert (action.say, action.then, action.end) == ("", "Done: {output}", False)

    @pytest.mark.parametrize(
        ("line", "say", "tool", "then", "end"),
        [
            ('when "x": Hello there.', "Hello there.", None, None, False),
            ('when "x": say "Hello there."', "Hello there.", None, None, False),
            ('when "x": Goodbye! -> end', "Goodbye!", None, None, True),
            ('when "x": Bye → hang up', "Bye", None, None, True),
            ('when "x": tool ping', "", "ping", None, False),
            ('when "x": tool ping() then Pong {output}', "", "ping", "Pong {output}", False),
            ('when "x": One moment, then tool look_up(q: text)', "One moment", "look_up", None, False),
            ('when "x": tool pay(amount) then say "Paid." -> end', "", "pay", "Paid.", True),
            ('when "x": Tool shops are closed.', "Tool shops are closed.", None, None, False),
            ('- When "x": a bullet rule', "a bullet rule", None, None, False),
        ],
    )
    def test_actions(self, line: str, say: str, tool: str | None, then: str | None, end: bool) -> None:
        script = parse_prompt(line)
        assert script.problems == ()
        (rule,) = script.rules
        assert rule.action.say == say
        assert (rule.action.tool.name if rule.action.tool else None) == tool
        assert (rule.action.then, rule.action.end) == (then, end)

    def test_phrase_operators(self) -> None:
        (rule,) = parse_prompt('when "a" "b c" and "d" + \'e*\', “f” | g: hi').rules
        assert [[p.words for p in t.phrases] for t in rule.triggers] == [
            [("a",)],
            [("b", "c"), ("d",), ("e*",)],
            [("f",)],
        ]

    def test_params(self) -> None:
        (rule,) = parse_prompt('when "x": tool t(party_size, start_time?, who: name = Ada, n: int = 2)').rules
        assert rule.action.tool is not None
        assert rule.action.tool.params == (
            Param("party_size", "number"),
            Param("start_time", "time", required=False),
            Param("who", "name", default="Ada"),
            Param("n", "number", default="2"),
        )


class TestMatching:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("What are your HOURS?", "We are open from nine to five, Monday to Friday."),
            ("When do you close, please", "We are open from nine to five, Monday to Friday."),
            ("Is it opening soon", 'I heard "Is it opening soon". Try asking'),  # whole words only
            ("I'd like to book, and what are your hours?", "We are open"),  # the first rule wins
        ],
    )
    def test_first_matching_rule(self, text: str, expected: str) -> None:
        assert said(plan_turn(agent(), user(text))).startswith(expected)

    def test_wildcard_and_all_of(self) -> None:
        prompt = 'when "cancel" and "book*": Cancelled.\ndefault: No.'
        assert said(plan_turn(agent(prompt), user("cancel my booking"))) == "Cancelled."
        assert said(plan_turn(agent(prompt), user("cancel it"))) == "No."

    def test_apostrophes_and_case_are_ignored(self) -> None:
        prompt = 'when "what\'s up": Not much.'
        assert said(plan_turn(agent(prompt), user("So, WHATS up?"))) == "Not much."

    def test_only_the_last_user_turn_counts(self) -> None:
        conversation: list[Entry] = [Utterance("user", "hours?"), Utterance("assistant", "Nine to five.")]
        assert plan_turn(agent(), conversation) == []
        assert said(plan_turn(agent(), [*conversation, Utterance("user", "goodbye")])) == "Goodbye!"


class TestArguments:
    BOOK = (Param("people", "number"), Param("time", "time"), Param("name", "name"))

    @pytest.mark.parametrize(
        ("text", "people", "at", "name"),
        [
            ("book a table for four at seven thirty under Ada", 4, "07:30", "Ada"),
            ("Book a table for two at 7:30 pm, my name is Grace Hopper.", 2, "19:30", "Grace Hopper"),
            ("at seven for four people please, call me alan", 4, "07:00", "Alan"),
            ("a table for twenty five at half past six in the evening for Linus", 25, "18:30", "Linus"),
            ("table for 3 at noon", 3, "12:00", None),
            ("we are one hundred and twenty at quarter to eight pm", 120, "19:45", None),
            ("for six at eleven fifteen tonight, this is Margaret", 6, "23:15", "Margaret"),
            ("two people, 8 pm, under the name of Turing", 2, "20:00", "Turing"),
            ("just a table for dinner", None, None, None),
        ],
    )
    def test_booking(self, text: str, people: int | None, at: str | None, name: str | None) -> None:
        arguments = extract_arguments(self.BOOK, text)
        assert {a["name"]: a["value"] for a in arguments} == {"people": people, "time": at, "name": name}

    def test_descriptor_shape(self) -> None:
        params = (Param("people", "number"), Param("note", "text", required=False))
        assert extract_arguments(params, "for two") == (
            {"name": "people", "type": "resolved", "dataType": "number", "required": True, "value": 2},
            {"name": "note", "type": "resolved", "dataType": "string", "required": False, "value": "for two"},
        )

    @pytest.mark.parametrize(
        ("text", "numbers"),
        [
            ("twenty five", [25]),
            ("one hundred and five", [105]),
            ("a hundred", [100]),
            ("two three", [2, 3]),
            ("3.5 nights and 12 guests", [3.5, 12]),
            ("a table", []),
            ("two thousand and twenty four", [2024]),
        ],
    )
    def test_numbers(self, text: str, numbers: list[int | float]) -> None:
        assert find_numbers(tokenize(text).words) == numbers

    @pytest.mark.parametrize(
        ("text", "times"),
        [
            ("at seven", ["07:00"]),
            ("seven thirty", ["07:30"]),
            ("7 pm", ["19:00"]),
            ("7 p.m.", ["19:00"]),
            ("at 19:30", ["19:30"]),
            ("at twelve oh five am", ["00:05"]),
            ("midnight", ["00:00"]),
            ("seven o'clock in the morning", ["07:00"]),
            ("for four people", []),
            ("twenty five", []),
            ("at 25:00", []),
        ],
    )
    def test_times(self, text: str, times: list[str]) -> None:
        assert [value for _, _, value in find_times(tokenize(text).words)] == times

    def test_days_text_and_defaults(self) -> None:
        params = (
            Param("day", "day"),
            Param("other_day", "day"),
            Param("query", "text"),
            Param("rooms", "number", default="one"),
            Param("who", "name", default="guest"),
        )
        prompt = (
            'when "search for": tool search(day, other_day: day, query, rooms: number = one, who: name=guest)'
        )
        (call,) = plan_turn(agent(prompt), user("Search for a room tomorrow or next Friday."))
        assert values(call) == {
            "day": "tomorrow",
            "other_day": "next friday",
            "query": "a room tomorrow or next Friday",
            "rooms": 1,
            "who": "guest",
        }
        assert [a["name"] for a in extract_arguments(params, "x")] == [
            "day",
            "other_day",
            "query",
            "rooms",
            "who",
        ]


class TestPlaceholders:
    def test_said_variables_and_unknown(self) -> None:
        events = plan_turn(agent(agent_name="Chez Ada"), user("who is this"))
        assert said(events) == "You are talking to Chez Ada, ok."  # {missing} is dropped, not read aloud
        assert said(plan_turn(agent(), user("  Pizza?  "))).startswith('I heard "Pizza?".')

    def test_variables_are_case_insensitive(self) -> None:
        assert said(plan_turn(agent("default: Hi {Name}!"), user("x"))) == "Hi !"
        assert said(plan_turn(agent("default: Hi {Name}!", name="Ada"), user("x"))) == "Hi Ada!"

    def test_arguments_in_say_and_then(self) -> None:
        prompt = (
            'when "book": Booking {people} at {time}. tool book(people, time) then Got {people}: {output.id}'
        )
        conversation = user("book for two at 8 pm")
        events = plan_turn(agent(prompt), conversation)
        assert said(events) == "Booking 2 at 20:00."
        call = events[-1]
        assert isinstance(call, CallTool)
        done = [*conversation, ToolRequest("c1", call.name, call.arguments), ToolResult("c1", '{"id": "A7"}')]
        assert said(plan_turn(agent(prompt), done)) == "Got 2: A7"


class TestToolRoundTrip:
    async def test_respond_call_then_output(self) -> None:
        brain: Brain = ScriptedBrain()
        assert brain.name == "vatel/scripted"
        conversation = user("Book a table for four at seven thirty under Ada")
        first = [event async for event in brain.respond(agent(), conversation)]
        assert len(first) == 1
        call = first[0]
        assert isinstance(call, CallTool) and call.name == "book_table"
        assert values(call) == {"people": 4, "time": "07:30", "name": "Ada"}
        conversation += [ToolRequest("call-1", call.name, call.arguments), ToolResult("call-1", "table 12")]
        second = [event async for event in brain.respond(agent(), conversation)]
        assert second == [Say("Done: table 12")]

    def test_without_then_short_output_is_read_and_json_is_not(self) -> None:
        prompt = 'when "ping": tool ping()'
        conversation = [*user("ping"), ToolRequest("a", "ping", ())]
        assert plan_turn(agent(prompt), [*conversation, ToolResult("a", "Success")]) == [Say("Success")]
        assert plan_turn(agent(prompt), [*conversation, ToolResult("a", '{"ok": true}')]) == [Say("Done.")]

    def test_end_after_the_tool(self) -> None:
        prompt = 'when "pay": One moment. tool pay(amount: number) then say "Paid {amount}." -> end'
        events = plan_turn(agent(prompt), user("pay 30"))
        assert events[0] == Say("One moment.") and isinstance(events[1], CallTool) and len(events) == 2
        call = events[1]
        done = [*user("pay 30"), ToolRequest("x", call.name, call.arguments), ToolResult("x", "ok")]
        assert plan_turn(agent(prompt), done) == [Say("Paid 30."), EndCall()]

    def test_the_rule_is_found_by_the_tool_name_when_words_changed(self) -> None:
        prompt = 'when "a": tool first() then One.\nwhen "b": tool second() then Two.'
        conversation: list[Entry] = [*user("a"), ToolRequest("1", "second", ()), ToolResult("1", "x")]
        assert plan_turn(agent(prompt), conversation) == [Say("Two.")]

    def test_an_output_for_an_unknown_call(self) -> None:
        assert plan_turn(agent(), [ToolResult("nobody", "fine")]) == [Say("fine")]


class TestEndCall:
    def test_goodbye_speaks_then_ends(self) -> None:
        assert plan_turn(agent(), user("ok, bye!")) == [Say("Goodbye!"), EndCall()]

    def test_silent_end(self) -> None:
        assert plan_turn(agent('when "stop": -> end'), user("stop")) == [EndCall()]


class TestSentences:
    def test_one_say_per_sentence(self) -> None:
        events = plan_turn(agent(), user("tell me a story"))
        assert events == [Say("First sentence."), Say("Second sentence!"), Say("Third sentence?")]

    @pytest.mark.parametrize(
        ("text", "sentences"),
        [
            ("Hello Mr. Smith. I am J. Doe! Ok?\nNext", ["Hello Mr. Smith.", "I am J. Doe!", "Ok?", "Next"]),
            ('I heard "yes." Try again.', ['I heard "yes."', "Try again."]),
            ("It costs 7.50 today.", ["It costs 7.50 today."]),
            ("", []),
        ],
    )
    def test_split(self, text: str, sentences: list[str]) -> None:
        assert split_sentences(text) == sentences

    def test_a_very_long_sentence_is_cut_at_commas(self) -> None:
        text = ", ".join(["and then something else happened"] * 20) + "."
        parts = split_sentences(text)
        assert len(parts) > 3 and all(len(part) <= 200 for part in parts)
        assert " ".join(parts) == text


NODES: list[Mapping[str, Any]] = [
    {"type": "start", "id": "n0"},
    {"type": "rule", "when": ["hours", "opening times"], "say": "Node hours: ten to six."},
    {
        "type": "rule",
        "when": [["cancel", "booking"]],
        "say": "Let me cancel it.",
        "tool": {"name": "cancel_booking", "arguments": [{"name": "name", "type": "name"}]},
        "then": "Cancelled: {output}.",
        "end": True,
    },
    {"type": "rule", "when": "menu", "tool": "menu(course: text)"},
    {"type": "default", "say": "Node default for {said}."},
]


class TestNodes:
    def test_nodes_come_first_and_combine_with_the_prompt(self) -> None:
        setup = agent(nodes=NODES)
        assert said(plan_turn(setup, user("your hours?"))) == "Node hours: ten to six."
        assert said(plan_turn(setup, user("bye"))) == "Goodbye!"  # from the prompt
        assert said(plan_turn(setup, user("pizza"))) == "Node default for pizza."  # the first default

    def test_node_tool_all_of_and_end(self) -> None:
        setup = agent(nodes=NODES)
        assert (
            said(plan_turn(setup, user("cancel please"))) == "Node default for cancel please."
        )  # both needed
        events = plan_turn(setup, user("Please cancel my booking, my name is Ada"))
        assert events[0] == Say("Let me cancel it.")
        assert values(events[1]) == {"name": "Ada"}
        call = events[1]
        assert isinstance(call, CallTool)
        done = [
            *user("cancel my booking"),
            ToolRequest("k", call.name, call.arguments),
            ToolResult("k", "yes"),
        ]
        assert plan_turn(setup, done) == [Say("Cancelled: yes."), EndCall()]

    def test_tool_as_text(self) -> None:
        (call,) = plan_turn(agent(nodes=NODES), user("the menu for desserts"))
        assert isinstance(call, CallTool) and call.name == "menu"
        assert values(call) == {"course": "for desserts"}

    def test_unknown_node_types_are_reported(self) -> None:
        assert parse_nodes(NODES).problems == (
            "node 0: type 'start' is not a scripted-brain node (rule, default); skipped",
        )


class TestBuiltin:
    def test_no_rules_at_all(self) -> None:
        setup = AgentSetup(prompt="You are a friendly assistant.")
        assert said(plan_turn(setup, user("Hello there"))) == (
            'I heard "Hello there". Ask me for a story, or say goodbye to end the call.'
        )
        story = plan_turn(setup, user("tell me a story"))
        assert len(story) >= 8 and all(isinstance(e, Say) for e in story)
        assert sum(len(e.text) for e in story if isinstance(e, Say)) > 600  # long enough to barge in
        assert plan_turn(setup, user("Good bye."))[-1] == EndCall()

    def test_rules_without_a_default(self) -> None:
        setup = agent('when "hi": Hello.')
        assert (
            said(plan_turn(setup, user("tell me a story")))
            == 'Sorry, I have no answer for that. I heard "tell me a story".'
        )
        assert plan_turn(setup, user("bye")) == [
            Say("Sorry, I have no answer for that."),
            Say('I heard "bye".'),
        ]

    def test_nothing_heard(self) -> None:
        assert plan_turn(agent(), user(" ... ")) == [Say("Sorry, I didn't catch that.")]
        assert plan_turn(agent(), []) == []

    def test_builtin_prompt_reads_cleanly(self) -> None:
        assert check_rules(BUILTIN_PROMPT) == []


GARBAGE_PROMPTS = [
    'when "hours: unterminated',
    "when : nothing",
    'when "": empty phrase',
    'when "x": tool broken(people: number',
    'when "x": tool t(1bad, ok: weird)',
    "default:",
    '\x00\x01 when \ud800 "x": y',
    "when " + '"a" or ' * 5000 + '"b": too many',
    "x" * 30_000,
    "when " + "x" * 30_000,
    "{" * 10_000,
    'when "a": {' * 1000,
]

GARBAGE_NODES: list[Any] = [
    None,
    "not a list",
    [1, "two", None, [], {"type": 3}],
    [
        {"type": "rule"},
        {"type": "rule", "when": 5, "say": "x"},
        {"type": "rule", "when": ["x"], "say": {"a": 1}},
    ],
    [
        {"type": "rule", "when": ["x"], "tool": {"name": "bad name!"}},
        {"type": "rule", "when": [{"x": 1}], "say": "y"},
    ],
    [{"type": "rule", "when": ["x"], "tool": {"name": "t", "arguments": [5, {"name": 3}, "a: b"]}}],
    [{"type": "default"}, {"when": "x", "say": "no type is a rule"}],
    [{"type": "rule", "when": ["x"], "say": "y"}] * 5000,
]


class TestGarbage:
    @pytest.mark.parametrize("prompt", GARBAGE_PROMPTS)
    @pytest.mark.parametrize("nodes", GARBAGE_NODES)
    def test_never_raises(self, prompt: str, nodes: Any) -> None:
        setup = AgentSetup(prompt=prompt, nodes=nodes)
        for text in ("x", "a b", "", "hours", "\x00"):
            events = plan_turn(setup, user(text))
            assert events and all(isinstance(e, Say | CallTool | EndCall) for e in events)
        assert isinstance(check_rules(prompt, nodes), list)

    def test_huge_prompt_is_fast_and_capped(self) -> None:
        prompt = "\n".join(f'when "word{i}": Reply {i}.' for i in range(5000)) + "\nsome prose" * 20_000
        started = time.perf_counter()
        script = load_script(prompt, ())
        assert len(script.rules) == 1000
        assert "more than 1000 rules" in " ".join(script.problems)
        events = plan_turn(AgentSetup(prompt=prompt), user("word999"))
        assert events == [Say("Reply 999.")]
        assert time.perf_counter() - started < 2.0

    @pytest.mark.parametrize(
        "line",
        [
            'when "x": a' + " " * 19_000 + "b tool t()",
            'when "x": a' + " " * 19_000 + "b -> end",
            'when "x": tool t(' + "a" * 5000 + " " * 14_000 + ")",
            'when "x": y' + ", then" * 3000 + " tool t()",
            'when "x": y' + " ->" * 6000,
            "when " + " " * 19_000 + '"x": y' + " " * 900 + ".",
        ],
        ids=["spaces-before-tool", "spaces-before-end", "spaces-in-args", "joiners", "arrows", "spaces"],
    )
    def test_long_runs_of_spaces_and_joiners_are_linear(self, line: str) -> None:
        started = time.perf_counter()
        check_rules(line)
        plan_turn(AgentSetup(prompt=line), user("x"))
        assert time.perf_counter() - started < 0.2  # quadratic patterns took 4 to 15 s here

    def test_a_turn_takes_well_under_a_millisecond(self) -> None:
        setup = agent(nodes=NODES)
        plan_turn(setup, user("warm up"))
        started = time.perf_counter()
        for _ in range(200):
            plan_turn(setup, user("book a table for four at seven thirty under Ada"))
        assert (time.perf_counter() - started) / 200 < 0.001


class TestCheckRules:
    def test_messages(self) -> None:
        prompt = "\n".join(
            [
                'when "ok": Fine.',
                'when "hours: We are open.',
                "When the user says hi: greet them",
                'when "x": tool t(people: number',
                'when "y": tool t(when: sometime)',
                'when "z" please: Hi.',
                "default: One.",
                "default: Two.",
                "when the sun sets we close",  # prose: no colon, not a problem
            ]
        )
        assert check_rules(prompt, [{"type": "rule", "when": ["a"]}, "bad", {"type": "menu"}]) == [
            "node 0: nothing to say or do; skipped",
            "node 1: not a JSON object; skipped",
            "node 2: type 'menu' is not a scripted-brain node (rule, default); skipped",
            'prompt line 2: unterminated quote "; skipped',
            'prompt line 3: no quoted phrase before ":" (write when "phrase": reply); skipped',
            "prompt line 4: a tool call without its closing ')'; skipped",
            "prompt line 5: unknown argument type 'sometime' for 'when' (use number, time, name, day, text); "
            "treated as text",
            "prompt line 6: ignored words outside quotes: please",
            "prompt line 8: a second default; only the first one is used",
        ]

    def test_clean_rules(self) -> None:
        assert check_rules(RESTAURANT, NODES[1:]) == []


class TestDocumentation:
    def test_the_documented_example_agent_works(self) -> None:
        text = DOCS.read_text()
        blocks = [block.split("\n", 1)[1] for block in text.split("```json")[1:]]
        bodies = [json.loads(block.split("```", 1)[0]) for block in blocks]
        body = next(b for b in bodies if isinstance(b, dict) and "prompt" in b)
        nodes = next(b for b in bodies if isinstance(b, list))
        assert check_rules(body["prompt"], nodes) == []
        setup = AgentSetup(prompt=body["prompt"], nodes=nodes)
        said_first = "I'd like a table for four at seven thirty tonight, under Ada."
        events = plan_turn(setup, user(said_first))
        assert events[0] == Say("Let me check.")
        assert values(events[1]) == {"people": 4, "time": "19:30", "day": "today", "name": "Ada"}
        call = events[1]
        assert isinstance(call, CallTool)
        done = [*user(said_first), ToolRequest("t", call.name, call.arguments), ToolResult("t", "B-42")]
        assert said(plan_turn(setup, done)) == "All set for 4 at 19:30, Ada. Your reference is B-42."
        assert said(plan_turn(setup, user("When are you open?"))).startswith("We are open from noon")
        assert plan_turn(setup, user("That's all, thanks."))[-1] == EndCall()
        cancel = plan_turn(setup, user("Please cancel my booking, my name is Ada."))
        assert cancel[0] == Say("I can cancel that for you.") and values(cancel[1]) == {"name": "Ada"}


def test_a_said_sentence_does_not_double_the_full_stop() -> None:
    from vatel.server.engines.scripted_brain import render

    assert render("I heard {said}.", {"said": "hello there."}, {}) == "I heard hello there."
    assert render("I heard {said}.", {"said": "really?"}, {}) == "I heard really?"
    assert render('I heard "{said}".', {"said": "Pizza?"}, {}) == 'I heard "Pizza?".'
