"""Running one node as a process: clean exit on Ctrl-C and SIGTERM, a clear line when start-up fails."""
from __future__ import annotations

import signal
import sys


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run_node(factory, name: str, args=None, executor_threads: int = 1) -> int:
    """Create the node with `factory()` and spin until interrupted. SIGTERM is turned into
    KeyboardInterrupt (rclpy's own handler would invalidate the context under a running callback)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        node = factory()
    except KeyboardInterrupt:
        rclpy.try_shutdown()
        return 0
    except Exception as e:
        print(f"[{name}] start-up failed: {e}", file=sys.stderr, flush=True)
        rclpy.try_shutdown()
        return 1
    executor = MultiThreadedExecutor(num_threads=executor_threads) if executor_threads > 1 else SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
