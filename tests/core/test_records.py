"""Records: what an error keeps of an exception."""

from actors_wf import ErrorInfo


def test_an_exception_with_no_message_is_recorded_with_what_it_means():
    assert ErrorInfo.from_exception(MemoryError()).message == "out of memory (MemoryError)"
    assert ErrorInfo.from_exception(KeyError()).message == "KeyError (no message)"
    assert ErrorInfo.from_exception(ValueError("x")).message == "x"
