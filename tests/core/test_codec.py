import typing
from typing import Any

import attrs
import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors_wf import JobState, MessageError
from actors_wf._core._codec import (
    MESSAGE_TYPES,
    _trusted_hook,
    converter,
    decode,
    decode_trusted,
    dump_record,
    encode,
    load_record,
)
from actors_wf._core._messages import (
    CancelJob,
    CreateJob,
    JobReply,
    RunStep,
    StepFailed,
    StepSucceeded,
)
from actors_wf._core._records import ErrorInfo
from tests.support.strategies import errors, ids, job_states, plain


@given(job_states())
def test_job_state_round_trips_through_bytes(state):
    assert load_record(dump_record(state), JobState) == state
    assert decode(encode(JobReply(state))) == JobReply(state)


@given(ids, ids, st.integers(1, 10), plain, errors)
def test_step_messages_round_trip(job, step, attempt, output, error):
    for msg in (
        StepSucceeded(job, step, attempt, output, 1.0, 2.0),
        StepFailed(job, step, attempt, error, 1.0, 2.0),
        RunStep(job, step, attempt, "c.x", {"a": output}, "urn:x", None),
    ):
        assert decode(encode(msg)) == msg
        assert decode_trusted(encode(msg)) == msg  # the path between actors


@given(job_states())
def test_trusted_decoding_reads_what_the_strict_one_reads(state):
    data = encode(JobReply(state))
    assert decode_trusted(data) == decode(data)


def test_messages_are_frozen_but_the_two_every_step_sends():
    # A message left unfrozen is a choice made for speed (see _messages), not drift.
    unfrozen = {
        cls
        for cls in MESSAGE_TYPES.values()
        if cls.__setattr__ is object.__setattr__  # attrs.frozen installs its own
    }
    assert unfrozen == {RunStep, StepSucceeded}
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        CancelJob("j").job_id = "k"


def test_messages_carry_their_stable_tag():
    raw = msgpack.unpackb(encode(CancelJob("j", force=True)))
    assert raw == {"type": "cancel_job", "job_id": "j", "force": True}


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\xc1", "not msgpack"),
        (b"", "not msgpack"),
        (msgpack.packb([1, 2]), "unknown message type None"),
        (msgpack.packb({"type": "nope"}), "unknown message type 'nope'; known types: ack"),
        (
            msgpack.packb({"type": "cancel_job", "job_id": 3}),
            "expected str, got int 3 @ cancel_job.job_id",
        ),
        (msgpack.packb({"type": "cancel_job"}), "required field missing @ cancel_job.job_id"),
        (msgpack.packb({"type": "cancel_job", "job_id": "j", "force": "no"}), "expected bool"),
        (msgpack.packb({"type": "cancel_job", "job_id": "j", "x": 1}), "unknown field(s) x"),
        (
            msgpack.packb({"type": "create_job", "workflow_id": "w", "priority": 2.5}),
            "create_job.priority",
        ),
    ],
)
def test_bad_bytes_get_a_message_error_naming_the_fault(data, fragment):
    with pytest.raises(MessageError) as info:
        decode(data)
    assert fragment in str(info.value)


@pytest.mark.parametrize("data", [b"\xc1", msgpack.packb([1]), msgpack.packb({"type": "nope"})])
def test_trusted_decoding_of_bytes_that_are_no_message_is_still_a_clear_error(data):
    with pytest.raises(MessageError, match="not msgpack|unknown message type"):
        decode_trusted(data)


def test_encoding_something_that_is_no_message_is_a_message_error():
    with pytest.raises(MessageError, match="cannot encode JobState: not a message"):
        encode(object.__new__(JobState))  # type: ignore[arg-type]


def test_unencodable_value_is_a_message_error():
    with pytest.raises(MessageError, match="cannot encode CreateJob"):
        encode(CreateJob("w", {"x": object()}))
    with pytest.raises(MessageError, match="cannot encode"):
        encode(CreateJob("w", {"x": 2**70}))


@pytest.mark.parametrize(
    ("kind", "value"), [(int, 3.7), (int, True), (bool, "no"), (float, "1"), (str, 1)]
)
def test_converter_is_strict(kind, value):
    with pytest.raises(Exception, match="expected"):
        converter.structure(value, kind)


def test_converter_widens_int_to_float_only():
    assert converter.structure(3, float) == 3.0
    assert isinstance(converter.structure(3, float), float)


FLAT = sorted(
    (cls for tag, cls in MESSAGE_TYPES.items() if _trusted_hook(tag)[0] is None),
    key=lambda c: c.TAG,
)


_SCALARS: dict[object, st.SearchStrategy[object]] = {
    Any: plain,
    dict[str, Any]: st.dictionaries(ids, plain, max_size=3),
    int: st.integers(-(2**63), 2**63 - 1),  # what msgpack carries
    float: st.floats(allow_nan=False),  # NaN never equals itself
    str: st.text(max_size=10),
    bool: st.booleans(),
    bytes: st.binary(max_size=10),
    type(None): st.none(),
}


def _field_strategy(kind: object) -> st.SearchStrategy[object]:
    if kind in _SCALARS:
        return _SCALARS[kind]
    return st.one_of(*(_SCALARS[arg] for arg in typing.get_args(kind)))  # X | None


@pytest.mark.parametrize("cls", FLAT, ids=lambda cls: cls.TAG)
@given(data=st.data())
def test_a_flat_message_reads_back_between_actors_as_the_strict_decoder_reads_it(cls, data):
    fields = attrs.fields(attrs.resolve_types(cls))
    msg = data.draw(st.builds(cls, **{f.name: _field_strategy(f.type) for f in fields}))
    assert decode_trusted(encode(msg)) == decode(encode(msg)) == msg


def test_flat_messages_are_the_ones_with_plain_fields_only():
    assert RunStep in FLAT and StepSucceeded in FLAT and StepFailed not in FLAT
    assert JobReply not in FLAT  # a JobState inside: cattrs builds it


def test_trusted_bytes_with_a_field_too_many_get_the_strict_error():
    data = msgpack.packb(
        {"type": "wake_step", "job_id": "j", "step_id": "s", "attempt": 1, "x": 2}
    )
    with pytest.raises(MessageError, match=r"unknown field\(s\) x"):
        decode_trusted(data)


def test_the_two_messages_every_step_sends_travel_as_arrays_and_the_rest_as_maps():
    run = RunStep("j", "a", 1, "c.x", {"n": 1}, "urn:j", 2.5)
    expected = ["run_step", "j", "a", 1, "c.x", {"n": 1}, "urn:j", 2.5, None, None]
    assert msgpack.unpackb(encode(run)) == expected
    done = StepSucceeded("j", "a", 1, [1, 2], 1.0, 2.0)
    assert msgpack.unpackb(encode(done)) == ["step_succeeded", "j", "a", 1, [1, 2], 1.0, 2.0, ""]
    failed = StepFailed("j", "a", 1, ErrorInfo("ValueError", "bad"), 1.0, 2.0)
    assert isinstance(msgpack.unpackb(encode(failed)), dict)
    assert isinstance(msgpack.unpackb(encode(CancelJob("j"))), dict)  # what a client sends


def test_an_array_message_from_outside_is_checked_field_by_field():
    wrong = msgpack.packb(["run_step", "j", "a", "one", "c.x", {}, "urn:j", None, None, None])
    with pytest.raises(MessageError, match=r"run_step.*attempt"):
        decode(wrong)


@pytest.mark.parametrize("decoder", [decode, decode_trusted])
def test_an_array_message_with_a_field_left_out_or_unknown_is_a_clear_error(decoder):
    short = msgpack.packb(["step_succeeded", "j", "a", 1, 2, 1.0, 2.0])  # no worker
    with pytest.raises(MessageError, match="bad step_succeeded message: 6 fields, expected 7"):
        decoder(short)
    with pytest.raises(MessageError, match="unknown message type"):
        decoder(msgpack.packb(["cancel_job", "j", True]))  # commands are maps
