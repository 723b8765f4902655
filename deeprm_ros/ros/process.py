"""Running one node as a process: clean exit on Ctrl-C and SIGTERM, a clear line when start-up fails."""
from __future__ import annotations

import re
import signal
import sys
import threading
import time

FATAL_LINGER_S = 2.0


class _StopSignal:
    """SIGINT/SIGTERM handler. While the node is being built (seconds: torch and the model load) it raises
    KeyboardInterrupt to abort that; afterwards it only sets a flag that the spin loop checks between waits. An
    exception raised from a handler lands wherever the main thread happens to be, and inside the executor's
    machinery it can be swallowed: a node that got Ctrl-C right after start-up then ran on for ever."""

    def __init__(self):
        self.requested = threading.Event()
        self.building = True

    def __call__(self, signum, frame):
        self.requested.set()
        if self.building:
            raise KeyboardInterrupt


def run_node(factory, name: str, args=None, executor_threads: int = 1) -> int:
    """Create the node with `factory()` and spin until SIGINT or SIGTERM (handled here, not by rclpy, whose own
    handler would invalidate the context under a running callback)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except Exception as e:  # e.g. a --params-file that is not valid YAML: rcl names the file and the problem
        text = re.sub(r",? at /\S+:\d+", "", str(e))  # drop rcl's C source locations
        print(f"[{name}] start-up failed: {text}", file=sys.stderr, flush=True)
        return 1
    stop = _StopSignal()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        node = factory()
    except KeyboardInterrupt:
        rclpy.try_shutdown()
        return 0
    except Exception as e:
        rclpy.try_shutdown()
        if stop.requested.is_set():  # the interrupt surfaced as another error from inside a library (a loader)
            return 0
        print(f"[{name}] start-up failed: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        stop.building = False
    executor = MultiThreadedExecutor(num_threads=executor_threads) if executor_threads > 1 else SingleThreadedExecutor()
    executor.add_node(node)
    fatal_since = None
    try:
        # Not executor.spin(): an idle node's wait has no timeout, and the Python handlers above only run
        # when the wait returns, so SIGTERM/Ctrl-C would never stop it. Wake up a few times a second.
        while rclpy.ok() and not stop.requested.is_set():
            executor.spin_once(timeout_sec=0.2)
            # A node whose work can no longer be done (node.fatal_error set) must not spin on silently: it
            # keeps serving for FATAL_LINGER_S, so that its last /diagnostics reach the monitors, then exits.
            if getattr(node, "fatal_error", None) is not None:
                fatal_since = fatal_since or time.monotonic()
                if time.monotonic() - fatal_since > FATAL_LINGER_S:
                    break
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    if fatal_since is not None:
        print(f"[{name}] stopped: {node.fatal_error}", file=sys.stderr, flush=True)
        return 1
    return 0
