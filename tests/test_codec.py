import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors_wf import JobState, MessageError
from actors_wf._codec import (
    converter,
    decode,
    decode_trusted,
    dump_record,
    encode,
    load_record,
)
from actors_wf._messages import CancelJob, CreateJob, JobReply, RunStep, StepFailed, StepSucceeded

from .strategies import errors, ids, job_states, plain


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
