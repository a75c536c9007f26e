"""onnxruntime sessions configured for many worker processes sharing one host.

ORT's defaults assume one process owns the machine: one intra-op thread per core in every
session, and idle threads that spin. With one worker per core that oversubscribes the host
and steals CPU from the matcher and featurizer in the same process. So: ``threads``
intra-op threads (1 by default), one inter-op thread, sequential execution, no spinning,
all graph optimizations.
"""

from __future__ import annotations

import onnxruntime as ort

from engine.classify.card import Card

DEVICES = ("cpu", "cuda")
_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
#: Where onnxruntime reads external tensor data of a model passed as bytes (by default the
#: current directory, which ``card.check_external_data`` never looked at).
EXTERNAL_DATA_DIR = "session.model_external_initializers_file_folder_path"


def session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def missing_provider(device: str) -> str | None:
    """Why this onnxruntime cannot run on ``device`` (one of ``DEVICES``), or ``None``.

    The CPU-only ``onnxruntime`` wheel has no CUDAExecutionProvider; ``onnxruntime-gpu``
    (the ``gpu`` extra) has, once it replaces the CPU wheel: both own the module.
    """
    provider = _PROVIDERS[device]
    available = ort.get_available_providers()
    if provider in available:
        return None
    return (f"device={device!r} needs onnxruntime's {provider}, but this onnxruntime "
            f"offers {available}; pip install 'filter-engine[gpu]', then pip uninstall "
            "onnxruntime and pip install --force-reinstall --no-deps onnxruntime-gpu (both "
            "wheels own the onnxruntime module; CUDA and cuDNN must be installed), or use "
            "device='cpu'")


def open_session(card: Card, model: str | bytes, device: str,
                 threads: int) -> ort.InferenceSession:
    """An InferenceSession on ``device``; a ModelError if the device or graph is unusable.

    Args:
        card: the model's card (for error messages).
        model: path of ``model.onnx`` or its serialized bytes (after a fix-up); either
            way, external tensor data is read from the model directory, the directory
            ``card.check_external_data`` checked.
        device: ``"cpu"`` or ``"cuda"``.
        threads: intra-op threads (``>= 1``).
    """
    if device not in DEVICES:
        raise card.fail(f"device {device!r} is not one of {DEVICES}", "E038")
    if not isinstance(threads, int) or threads < 1:
        raise card.fail(f"threads={threads!r}; pass a positive integer", "E038")
    provider = _PROVIDERS[device]
    problem = missing_provider(device)
    if problem:
        raise card.fail(problem, "E038")
    providers = [provider] if device == "cpu" else [provider, _PROVIDERS["cpu"]]
    options = session_options(threads)
    if isinstance(model, bytes):
        options.add_session_config_entry(EXTERNAL_DATA_DIR, str(card.directory.resolve()))
    try:
        session = ort.InferenceSession(model, options, providers=providers)
    except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph/... classes
        raise card.fail(f"onnxruntime cannot load model.onnx ({err}); re-export the model",
                        "E034") from err
    if session.get_providers()[0] != provider:
        raise card.fail(
            f"device={device!r}: onnxruntime fell back to {session.get_providers()} (the CUDA "
            "libraries did not load); fix the CUDA install or use device='cpu'",
            "E038",
        )
    return session
