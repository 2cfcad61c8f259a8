"""Command-line plumbing of the binaries (training/cli.py), unit by unit: tuple settings take a bare
comma list of paths, settings defaulting to None take a literal, a path or None, a user error ends
in one `error:` line, and a traceback in a message is cut to its last line. (The binaries as a user
meets them: tests/test_cli.py.)"""

import pytest

from flax_adapters.training import cli


def test_path_tuples_and_literal_tuples():
    parser = cli.PathTupleParser()
    assert parser.parse("/a/x,/b/replay0.2") == ("/a/x", "/b/replay0.2")
    assert parser.parse("runs/a,runs/x/replay0.2") == ("runs/a", "runs/x/replay0.2")
    assert parser.parse("/a/x") == ("/a/x",)
    assert parser.parse("(0, 2, 4)") == (0, 2, 4)  # a Python literal keeps its types
    assert parser.parse("16,32") == (16, 32)


def test_none_fields_take_a_literal_a_path_or_none():
    parser = cli.NoneFieldParser()
    assert [parser.parse(v) for v in ("None", "none", "")] == [None, None, None]
    assert parser.parse("8") == 8 and parser.parse("0.5") == 0.5 and parser.parse("True") is True
    assert parser.parse("/runs/a") == "/runs/a" and parser.parse("runs/x-1") == "runs/x-1"
    assert parser.parse(3) == 3 and parser.flag_type() == "none_or_value"


def test_fail_is_one_error_line():
    with pytest.raises(SystemExit) as e:
        cli.fail("bad value\n  for key   x")
    assert e.value.code == "error: bad value for key x"
    assert cli.one_line("a\n b\t c ") == "a b c"


def test_a_traceback_is_cut_to_its_last_line():
    message = ("Error while loading config.py:\nTraceback (most recent call last):\n  File \"c.py\", line 3\n"
               "ValueError: unknown suite 'fast'")
    assert cli._last_line_of_traceback(message) == "Error while loading config.py: ValueError: unknown suite 'fast'"
    assert cli._last_line_of_traceback("just one line") == "just one line"
    assert set(cli.USER_ERRORS) >= {ValueError, FileNotFoundError}
