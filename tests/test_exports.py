import actors_wf

EXPECTED = {
    "AsyncClient",
    "Client",
    "EventStream",
    "JobSummaries",
    "EventNote",
    "HealthReply",
    "JobSummary",
    "ComponentExecutor",
    "StoreError",
    "StoreLocked",
    "WorkflowNotFound",
    "EventKind",
    "FailureKind",
    "ComponentImportError",
    "WorkflowLimits",
    "StoreCorrupt",
    "JobManagerSync",
    "ComponentMetrics",
    "ExecutorMetrics",
    "LogContextFilter",
    "JsonFormatter",
    "DaskExecutor",
    "Metrics",
    "Orchestrator",
    "Clock",
    "ManualClock",
    "SystemClock",
    "COMPONENT",
    "WORKFLOW",
    "ActorsWfError",
    "Attempt",
    "ComponentDefinition",
    "ComponentNotFound",
    "DuplicateComponent",
    "Engine",
    "EngineClosed",
    "EngineUnavailable",
    "ErrorInfo",
    "Event",
    "InputSpec",
    "InvalidInputs",
    "InvalidTransition",
    "SignalRefused",
    "WaitFor",
    "JobCancelled",
    "JobFailed",
    "JobManager",
    "JobNotFound",
    "JobPage",
    "JobState",
    "JobStatus",
    "JobTimeout",
    "MessageError",
    "Registry",
    "RegistryEntry",
    "Retention",
    "RetryPolicy",
    "Snapshot",
    "SpecError",
    "StaleWrite",
    "StateManager",
    "StepCancelledError",
    "StepContext",
    "StepMap",
    "StepSpec",
    "StepState",
    "StepStatus",
    "WorkflowSpec",
    "component",
    "load_workflow",
    "Problem",
    "ValidationResult",
    "Validator",
    "WorkflowInvalid",
}


def test_exports_are_exactly_the_public_api():
    assert set(actors_wf.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(actors_wf, name) is not None


def test_every_public_name_has_a_docstring():
    for name in actors_wf.__all__:
        obj = getattr(actors_wf, name)
        if isinstance(obj, str):
            continue
        assert obj.__doc__, name


def test_errors_subclass_the_builtin_a_caller_would_catch():
    assert issubclass(actors_wf.ComponentNotFound, LookupError)
    assert issubclass(actors_wf.JobNotFound, LookupError)
    assert issubclass(actors_wf.InvalidTransition, ValueError)
    assert issubclass(actors_wf.SpecError, ValueError)
    assert issubclass(actors_wf.JobTimeout, TimeoutError)
    assert not issubclass(actors_wf.StepCancelledError, Exception)
    for name in ("ComponentNotFound", "JobFailed", "SpecError", "JobTimeout", "EngineClosed"):
        assert issubclass(getattr(actors_wf, name), actors_wf.ActorsWfError)


def test_the_testing_namespace_is_public_and_documented():
    import actors_wf.testing as testing
    import actors_wf.testing.faults as faults
    import actors_wf.testing.strategies as strategies

    assert set(testing.__all__) == {
        "JobLifecycleMachine",
        "ManualClock",
        "Reference",
        "SequentialIds",
        "assert_job",
        "assert_journal_replays",
        "assert_no_leaks",
        "assert_replays",
        "assert_same_as_reference",
        "assert_transition_allowed",
        "engine",
        "reference_run",
        "run_to_end",
    }
    assert testing.ManualClock is actors_wf.ManualClock  # kept where it was too
    for module in (testing, faults, strategies):
        for name in module.__all__:
            value = getattr(module, name)
            assert isinstance(value, tuple) or value.__doc__, f"{module.__name__}.{name}"


def test_version_and_a_quiet_logger():
    import logging
    from importlib import metadata

    assert actors_wf.__version__ == metadata.version("actors-wf")
    handlers = logging.getLogger("actors_wf").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_a_name_is_imported_on_first_use_and_an_unknown_one_is_an_attribute_error():
    assert "Engine" in dir(actors_wf) and "__version__" in dir(actors_wf)
    assert actors_wf.Engine is actors_wf._engine.Engine
    try:
        actors_wf.Engin  # noqa: B018
    except AttributeError as exc:
        assert "'Engin'" in str(exc)
    else:
        raise AssertionError("an unknown name must raise AttributeError")


def test_the_client_commands_import_neither_the_engine_nor_asyncio():
    """A cold `actors-wf status` pays only for the client (see docs/performance.md)."""
    import subprocess
    import sys

    probe = (
        "import sys, actors_wf._cli, actors_wf\n"
        "actors_wf.Client, actors_wf.JobState, actors_wf.JobFailed\n"
        "heavy = {'actors_wf._engine', 'asyncio', 'pykka', 'yaml', 'actors_wf._runtime'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "[]"


def test_validate_starts_no_engine_and_builds_no_messages(tmp_path):
    """`actors-wf validate` in an editor pays for the validator only (docs/performance.md)."""
    import subprocess
    import sys

    workflow = tmp_path / "small.yaml"
    workflow.write_text("id: small\nsteps:\n  - {id: a, component: nowhere.x}\n")
    probe = (
        "import sys\n"
        "from actors_wf._cli import main\n"
        f"code = main(['validate', {str(workflow)!r}, '--color', 'never'])\n"
        "heavy = {'actors_wf._engine', 'actors_wf._core._messages', 'pykka', 'asyncio',\n"
        "         'actors_wf._runtime', 'actors_wf._state', 'sqlite3'}\n"
        "print(code, sorted(heavy & set(sys.modules)))\n"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip().splitlines()[-1] == "1 []"
