"""tf.data service with tf_mlm: a dispatcher and two workers in separate
processes on 127.0.0.1, a client pipeline whose ``map`` masks with tf_mlm.

The servers, and the client that reads from them, run in a private network
namespace with loopback only when the machine allows it (TensorFlow's gRPC
servers listen on every interface; there is no option to bind 127.0.0.1
only). Every process is stopped when the test ends, pass or fail.
"""

import collections
import contextlib
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data_service_child as child  # noqa: E402
import _subprocess_utils as spu  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="process groups and namespaces: Linux only"
    ),
]

SCRIPT = str(spu.TESTS_DIR / "_data_service_child.py")
START_TIMEOUT = 60  # a process importing TensorFlow on a busy 2-core machine
CLIENT_TIMEOUT = 90


def _json_line(proc, key, timeout=START_TIMEOUT):
    line = proc.lines.wait_for(lambda s: s.startswith("{") and f'"{key}"' in s, timeout)
    if line is None:
        raise AssertionError(f"no {key!r} from {proc.args}; output:\n{proc.lines.text()[-3000:]}")
    return json.loads(line)[key]


def _json_line_seen(proc, key):
    """A JSON line already read from ``proc`` (e.g. by the fixture)."""
    for line in proc.lines.lines:
        if line and line.startswith("{") and f'"{key}"' in line:
            return json.loads(line)[key]
    raise AssertionError(f"{proc.args} never printed {key!r}")


@pytest.fixture(scope="module")
def netns():
    with spu.LoopbackNamespace() as ns:
        yield ns


@pytest.fixture(scope="module")
def cluster(netns):
    """A dispatcher and two workers, each its own process importing tf_mlm.
    Yields (dispatcher port, [worker processes]). Shared by the tests of this
    module (starting TensorFlow processes is slow); the worker-kill test,
    which spoils it, comes last."""
    with spu.started([*netns.prefix, spu.PYTHON, SCRIPT, "dispatcher"]) as dispatcher:
        port = _json_line(dispatcher, "port")
        with (
            spu.started([*netns.prefix, spu.PYTHON, SCRIPT, "worker", str(port)]) as w1,
            spu.started([*netns.prefix, spu.PYTHON, SCRIPT, "worker", str(port)]) as w2,
        ):
            for w in (w1, w2):
                address = _json_line(w, "worker")
                assert address.startswith("127.0.0.1:"), address
            yield port, [w1, w2]


def _run_client(
    netns,
    port,
    mode,
    num_elements,
    seconds_per_batch=0.0,
    on_batch=None,
    on_stall=None,
    stall_timeout=None,
):
    """Runs the client to the end; returns its batches. ``on_batch(n)`` is
    called after the n-th batch arrives; ``on_stall()`` once, when no batch
    has come for ``stall_timeout`` seconds after the first one."""
    argv = [
        *netns.prefix,
        spu.PYTHON,
        SCRIPT,
        "client",
        str(port),
        mode,
        str(num_elements),
        str(seconds_per_batch),
    ]
    batches = []
    with spu.started(argv) as proc:
        while True:
            line = None
            if on_stall is not None and batches:  # armed once data flows
                line = proc.lines.wait_for(lambda s: s.startswith("{"), stall_timeout)
                if line is None and proc.poll() is None:
                    on_stall()
                    on_stall = None
            if line is None:
                line = proc.lines.wait_for(lambda s: s.startswith("{"), CLIENT_TIMEOUT)
            if line is None:
                raise AssertionError(
                    f"client ended or timed out without finishing; output:\n"
                    f"{proc.lines.text()[-3000:]}"
                )
            msg = json.loads(line)
            if "done" in msg:
                assert msg["done"] == len(batches)
                break
            batches.append(msg)
            if on_batch is not None:
                on_batch(len(batches))
        assert proc.wait(30) == 0, proc.lines.text()[-3000:]
    return batches


def _check_row(index, ids, masked, positions, labels):
    """One delivered element is a correct masking of its own input."""
    assert ids == child.input_ids(index), f"element {index}: ids do not match its index"
    assert len(masked) == len(ids)
    assert positions == sorted(set(positions)), f"element {index}: positions {positions}"
    selectable = len(ids) - 2  # all but [CLS] and [SEP]
    assert len(positions) == min(math.ceil(selectable * child.RATE), child.CAP)
    assert all(0 < p < len(ids) - 1 for p in positions), "an unselectable position was masked"
    assert labels == [ids[p] for p in positions], f"element {index}: labels are not the inputs"
    chosen = set(positions)
    for j, (before, after) in enumerate(zip(ids, masked)):
        if j not in chosen:
            assert after == before, f"element {index}: unmasked position {j} changed"
        else:
            assert after == child.MASK or 0 <= after < child.VOCAB


def _delivered(batches):
    """Checks every delivered element; returns the indices in delivery order."""
    indices = []
    for b in batches:
        for row in zip(b["index"], b["ids"], b["masked"], b["positions"], b["labels"]):
            _check_row(*row)
            indices.append(row[0])
    assert any(child.MASK in m for b in batches for m in b["masked"]), "mask token never used"
    return indices


def test_input_ids_formula_matches_the_pipeline():
    # The checks' pure-Python copy of the ids equals the pipeline's (in-process).
    got = [e["ids"].tolist() for e in child.pipeline(6).unbatch().as_numpy_iterator()]
    assert got == [child.input_ids(i) for i in range(6)]


def _both_alive(workers):
    dead = [w.args for w in workers if w.poll() is not None]
    if dead:
        pytest.fail(f"a worker is not running (did the kill test run first?): {dead}")


def test_parallel_epochs_each_worker_produces_the_whole_dataset(netns, cluster):
    port, workers = cluster
    _both_alive(workers)
    n = 24
    counts = collections.Counter(_delivered(_run_client(netns, port, "parallel_epochs", n)))
    # Both workers were registered before the job started: each one
    # processes the whole dataset, so every element arrives once per worker.
    assert counts == {i: len(workers) for i in range(n)}


def test_distributed_epoch_delivers_every_element_exactly_once(netns, cluster):
    port, workers = cluster
    _both_alive(workers)
    n = 40
    indices = _delivered(_run_client(netns, port, "distributed_epoch", n))
    assert sorted(indices) == list(range(n))


@pytest.mark.skipif(
    tuple(int(x) for x in __import__("tensorflow").__version__.split(".")[:2]) < (2, 21),
    reason="the recovery below (a worker restarted at the lost one's address) is how "
    "TensorFlow 2.21's dispatcher lets the epoch end; older releases differ",
)
def test_distributed_epoch_survives_a_worker_killed_mid_epoch(netns, cluster, tmp_path):
    """Kill one worker (SIGKILL) mid-epoch: the other takes every remaining
    split, and what arrives is what tf.data service promises for
    distributed_epoch (ShardingPolicy.DYNAMIC) under a worker failure:
    at-most-once. No element twice, each delivered one correct; elements
    the killed worker held may be lost.

    TensorFlow 2.21's dispatcher never removes a lost worker's tasks (it
    only stops expecting heartbeats), so the client keeps retrying the dead
    worker and the iteration does not end until a worker comes back at that
    address. The test restarts one there once the stream stalls; that worker
    finds no splits left and the job ends.
    """
    port, (w1, w2) = cluster
    _both_alive([w1, w2])
    n = 160  # 40 batches; the client reads slowly so that the kill is mid-epoch
    kill_after = 5
    w1_port = int(_json_line_seen(w1, "worker").rsplit(":", 1)[1])
    events = {}

    with contextlib.ExitStack() as stack:

        def on_batch(count):
            events["batches"] = count
            if count == kill_after:
                spu.kill(w1)  # SIGKILL: no goodbye to the dispatcher
                events["killed_at"] = count

        def on_stall():
            events["stalled_at"] = events["batches"]
            restarted = stack.enter_context(
                spu.started([*netns.prefix, spu.PYTHON, SCRIPT, "worker", str(port), str(w1_port)])
            )
            _json_line(restarted, "worker")

        batches = _run_client(
            netns,
            port,
            "distributed_epoch",
            n,
            seconds_per_batch=0.05,
            on_batch=on_batch,
            on_stall=on_stall,
            stall_timeout=6,
        )
    assert "killed_at" in events, "the worker was never killed"
    assert w2.poll() is None, "the surviving worker died"
    indices = _delivered(batches)
    assert len(indices) == len(set(indices)), "an element was delivered twice"
    assert set(indices) <= set(range(n))
    # The survivor went on after the kill: it took the remaining splits.
    assert events.get("stalled_at", len(batches)) > events["killed_at"] + 5
