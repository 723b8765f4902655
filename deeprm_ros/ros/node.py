"""The refiner node: Image (or CompressedImage) + CameraInfo + Detection3DArray in; refined Detection3DArray,
TF, RefinementStatus, /diagnostics, mesh markers and a debug overlay out.

Threads: subscription callbacks only store messages in FrameInputs (inputs.py; never touching the network) and
run side by side (a reentrant callback group); the reset service, which waits for the worker, has a group of its
own, so that waiting holds up neither the inputs nor the parameter services. One worker thread owns the GL
context, the network and the tracks, and refines the newest frame (a queue of one: a frame that arrives
while another waits replaces it and is counted as dropped). What the node does with a frame is in modules of
their own, tested without rclpy: detection_filter (which detections count), tracks, the Refiner, messages.
When the worker stops (its backend cannot be built), the node reports ERROR on /diagnostics and the process
exits with status 1.

Parameters that are not read-only apply from the next frame after `ros2 param set`.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions

from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection3DArray
from visualization_msgs.msg import MarkerArray

from deeprm_ros.msg import RefinementStatus

from . import camera
from . import conversions as conv
from . import messages
from .detection_filter import DetectionRules, select_detections
from .health import HealthMonitor, diagnostic_array
from .inputs import FrameInputs
from .parameters import configuration_warnings, declare_and_validate, parse_object_labels, validate_value
from ..tracking import Detection, TrackManager, refine_tracks
from .resources import default_checkpoint, default_models_dir
from .throttle import Throttle

TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE,
                    history=HistoryPolicy.KEEP_LAST)
# Parameters that the TrackManager holds, by its attribute name: a change is passed on to it.
TRACK_PARAMETERS = {"association_gate_m": "gate_m", "track_timeout_s": "timeout_s", "max_objects": "max_tracks",
                    "max_unconverged_frames": "max_unconverged_frames", "reinit_rotation_deg": "reinit_rotation_deg",
                    "verify_rotation_deg": "verify_rotation_deg",
                    "min_confidence": "min_confidence", "max_low_confidence_frames": "max_low_confidence_frames"}


class WorkerStopped(RuntimeError):
    """The worker cannot go on (its backend could not be built): every later frame would fail the same way."""


class BackendFailure(RuntimeError):
    """The network or renderer failed on one frame (not the input's fault)."""


class RefinerNode(Node):
    def __init__(self, **kwargs):
        super().__init__("deeprm_refiner", **kwargs)
        self.params = declare_and_validate(self)
        # rclpy keeps the values given to the node (files, -p) in _parameter_overrides; no public getter exists.
        for text in configuration_warnings(self.get_fully_qualified_name(), sys.argv,
                                           list(getattr(self, "_parameter_overrides", {}))):
            self.get_logger().warning(text)
        p = self.params
        self.labels = parse_object_labels(p["object_labels"])
        self.throttle = Throttle(self.get_logger())
        self.checkpoint = Path(p["checkpoint"] or default_checkpoint())
        self.models_dir = Path(p["models_dir"] or default_models_dir())
        # Fail at start-up, naming the file, when the model or meshes cannot be used.
        from ..checkpoint import load_model
        from ..meshes import load_object_library
        # Config and weights (a fraction of a second): the worker builds its backend only at the first frame
        # with objects, where a corrupt file would only skip every frame with a warning instead of stopping.
        load_model(self.checkpoint)
        self.models = load_object_library(self.models_dir, unit=p["mesh_unit"])
        self.tracks = TrackManager(gate_m=p["association_gate_m"], timeout_s=p["track_timeout_s"],
                                   max_tracks=p["max_objects"], max_unconverged_frames=p["max_unconverged_frames"],
                                   reinit_rotation_deg=p["reinit_rotation_deg"], min_confidence=p["min_confidence"],
                                   verify_rotation_deg=p["verify_rotation_deg"],
                                   max_low_confidence_frames=p["max_low_confidence_frames"],
                                   symmetries={oid: m.symmetry_transforms() for oid, m in self.models.items()})
        unknown = {c: o for c, o in self.labels.items() if o not in self.models}
        if unknown:
            raise ValueError(f"parameter 'object_labels': obj_ids {sorted(set(unknown.values()))} have no mesh in {self.models_dir}")
        if not self.labels:
            self.labels = {str(o): o for o in self.models}

        self.inputs = FrameInputs()
        self.params_lock = threading.Lock()
        self.ready = threading.Event()
        self.fatal_error = None        # text once the worker has stopped: the process then exits with status 1
        self.warned_distortion = False
        self.health = HealthMonitor(window_s=5 * p["diagnostics_period_s"])

        self.pub_det = self.create_publisher(Detection3DArray, "refined_detections", 10)
        self.pub_status = self.create_publisher(RefinementStatus, "refinement_status", 10)
        self.pub_tf = self.create_publisher(TFMessage, "/tf", TF_QOS)
        self.pub_markers = self.create_publisher(MarkerArray, "markers", 10)
        self.pub_overlay = self.create_publisher(Image, "overlay", 2)
        self.pub_diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        inputs = ReentrantCallbackGroup()  # store-and-return callbacks under FrameInputs' lock: safe side by side
        # Every input's QoS can be overridden with the standard qos_overrides.<topic>.subscription.<policy>
        # parameters (e.g. reliability best_effort, for a best-effort detector).
        overridable = dict(callback_group=inputs, qos_overriding_options=QoSOverridingOptions.with_default_policies())
        if p["image_transport"] == "compressed":
            self.image_topic = self.resolve_topic_name("image") + "/compressed"
            self.create_subscription(CompressedImage, self.image_topic, self._on_image, qos_profile_sensor_data,
                                     **overridable)
        else:
            self.image_topic = self.resolve_topic_name("image")
            self.create_subscription(Image, "image", self._on_image, qos_profile_sensor_data, **overridable)
        self.create_subscription(CameraInfo, "camera_info", self.inputs.put_info, qos_profile_sensor_data, **overridable)
        self.create_subscription(Detection3DArray, "detections", self.inputs.put_detections, 10, **overridable)
        self.create_service(Trigger, "~/reset", self._on_reset, callback_group=MutuallyExclusiveCallbackGroup())
        # A steady clock: with use_sim_time and no /clock, a timer on the node's clock would never fire and the
        # node's health would go silent exactly when something is wrong.
        self.create_timer(p["diagnostics_period_s"], self.publish_diagnostics, callback_group=inputs,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.add_post_set_parameters_callback(self._on_parameters_set)
        self.worker = threading.Thread(target=self._work, name="deeprm_worker", daemon=True)
        self.worker.start()
        self.get_logger().info(
            f"ready: checkpoint {self.checkpoint}, {len(self.models)} objects from {self.models_dir} "
            f"(labels {dict(sorted(self.labels.items()))}), backend {p['backend']} on {p['device']}, "
            f"{p['iterations']} iterations ({p['tracking_iterations']} when tracking); waiting for "
            f"{self.image_topic}, {self.resolve_topic_name('camera_info')} and {self.resolve_topic_name('detections')}")

    # ---- callbacks: store and return -------------------------------------------------------------
    def _on_image(self, msg):
        now = time.monotonic()
        self.health.image_received(now)
        if self.inputs.put_image(msg):
            self.health.image_dropped(now)

    def _on_parameters_set(self, parameters):
        """Apply a change that passed validation (read-only ones never get here): the worker reads self.params
        at every frame, and the track policy gets its own copy."""
        for prm in parameters:
            if prm.name not in self.params:  # rclpy's own (use_sim_time, qos_overrides.*)
                continue
            value = validate_value(prm.name, [] if prm.value is None else prm.value)
            with self.params_lock:
                self.params[prm.name] = value
                if prm.name in TRACK_PARAMETERS:
                    setattr(self.tracks, TRACK_PARAMETERS[prm.name], value)
            self.get_logger().info(f"parameter {prm.name} = {value!r}: applies from the next frame")

    def publish_diagnostics(self):
        if not rclpy.ok():
            return
        report = self.health.report(time.monotonic(), len(self.tracks.tracks))
        device = self.refiner.network_device if getattr(self, "refiner", None) else self.params["device"]
        backend = self.refiner.backend if getattr(self, "refiner", None) else self.params["backend"]
        report.values["backend"] = f"{backend} on {device}"
        report.values["image topic"] = self.image_topic
        self.pub_diagnostics.publish(diagnostic_array(report, f"{self.get_name()}: refinement",
                                                      self.get_fully_qualified_name(),
                                                      self.get_clock().now().to_msg()))

    def _on_reset(self, request, response):
        response.success = self.inputs.request_reset(timeout_s=5.0)
        response.message = "all tracks cleared" if response.success else "worker busy; tracks will be cleared"
        return response

    # ---- worker ----------------------------------------------------------------------------------
    def _work(self):
        from ..refiner import Refiner
        try:
            self.refiner = None
            self.renderer_size = None
            threads = self.params["cpu_threads"] or max(1, (os.cpu_count() or 2) // 2)
            self._build = lambda w, h: Refiner.from_checkpoint(self.checkpoint, self.models, w, h, self.params["device"],
                                                               self.params["backend"], threads,
                                                               self.params["openvino_precision"])
            self.ready.set()
            while self.inputs.running:
                msg = self.inputs.next_frame(on_reset=self._reset_tracks)
                if msg is not None and self.inputs.running:
                    try:
                        self._process(msg)
                    except WorkerStopped:
                        raise
                    except BackendFailure as e:
                        self.health.backend_failed(time.monotonic(), str(e))
                        self.throttle.error("backend", f"frame not refined, the {self.refiner.backend} backend "
                                                       f"failed: {e}")
                    except Exception as e:  # a bad frame must not stop the node
                        self.throttle.warn("process", f"frame skipped: {type(e).__name__}: {e}")
        except Exception as e:
            text = str(e) if isinstance(e, WorkerStopped) else f"{type(e).__name__}: {e}"
            self.health.worker_stopped(text)
            self.get_logger().error(f"refinement worker stopped: {text}; the node exits")
            self.fatal_error = text
            self.ready.set()
            self.publish_diagnostics()

    def _reset_tracks(self):
        self.get_logger().info(f"reset: cleared {self.tracks.reset()} tracks")

    def _take_detections(self, frame_id: str, t_img: float) -> list[Detection]:
        """The detection arrays stamped at or before the image leave the queue; detection_filter's rules pick
        from them, and what they refuse is logged (throttled)."""
        p = self.params
        result = select_detections(self.inputs.take_detections(t_img), frame_id, t_img, DetectionRules(self.labels, p["track_timeout_s"],
                                                                           p["max_objects"], p["score_threshold"]))
        for key, text in result.warnings:
            self.throttle.warn(key, text)
        return result.detections

    def _process(self, msg):
        t0 = time.perf_counter()
        try:
            rgb = camera.compressed_to_rgb(msg) if isinstance(msg, CompressedImage) else camera.image_to_rgb(msg)
        except ValueError as e:
            self.throttle.warn("encoding", f"image skipped: {e}")
            return
        info = self.inputs.camera_info_for(conv.stamp_to_sec(msg.header.stamp), self.params["image_queue_slop_s"])
        if info is None:
            self.throttle.warn("info", f"image skipped: no camera_info with its stamp {msg.header.stamp.sec}."
                                       f"{msg.header.stamp.nanosec:09d} yet (topic camera_info)")
            return
        try:
            K = camera.frame_camera_matrix(rgb, info)
        except ValueError as e:
            self.throttle.warn("camera_info", f"image skipped: {e}")
            return
        if not self.warned_distortion and camera.has_distortion(info):
            self.warned_distortion = True
            self.get_logger().warning(f"camera_info has distortion D = {list(info.d)}: the node refines rectified "
                                      "images with P (subscribe it to a rectified topic such as image_proc's "
                                      "image_rect); raw distorted images give biased poses")
        stamp = conv.stamp_to_sec(msg.header.stamp)
        self.tracks.associate(self._take_detections(msg.header.frame_id, stamp), stamp)
        self._warn_restarted(self.tracks.restarted)
        self.tracks.expire(stamp)
        tracks = list(self.tracks.tracks.values())
        results = []
        timings = {"render": 0.0, "network": 0.0}
        if tracks:
            if self.refiner is None or self.renderer_size != (rgb.shape[1], rgb.shape[0]):
                try:
                    self.refiner = self._build(rgb.shape[1], rgb.shape[0])
                except Exception as e:
                    raise WorkerStopped(f"the {self.params['backend']} backend could not be built: "
                                        f"{type(e).__name__}: {e}") from e
                self.renderer_size = (rgb.shape[1], rgb.shape[0])
                precision = getattr(self.refiner.model, "precision", None)  # OpenVINO's f32 or bf16
                chosen = " (backend auto)" if self.params["backend"] == "auto" else ""
                self.get_logger().info(f"{self.refiner.backend} backend{chosen} runs on "
                                       f"{self.refiner.network_device.upper()}" + (f" in {precision}" if precision else ""))
            p = self.params
            try:
                frame = refine_tracks(self.refiner, self.tracks, tracks, rgb, K, p["iterations"],
                                      p["tracking_iterations"], p["convergence_translation_mm"],
                                      p["convergence_rotation_deg"], p["refine_from"])
            except Exception as e:  # the tracks keep their pose and state from the last good frame
                raise BackendFailure(f"{type(e).__name__}: {e}") from e
            timings, results, restarted = frame.timings_ms, frame.published, frame.restarted
            self._warn_restarted(restarted)
            for t, why in frame.verified:   # routine for a drifting track: not a warning
                self.get_logger().debug(f"track {t.track_id} ({t.class_id}) took over its refined detection ({why})")
        total_ms = (time.perf_counter() - t0) * 1e3
        self.get_logger().debug(
            f"frame {stamp:.3f}: {len(tracks)} tracks refined in {total_ms:.1f} ms (render "
            f"{timings.get('render', 0.0):.1f}, network {timings.get('network', 0.0):.1f}); "
            + ", ".join(f"{r.class_id}#{r.track_id} confidence {r.confidence:.2f}"
                        f"{' converged' if r.converged else ''}" for r in results))
        self._publish(msg, rgb, K, results, timings, total_ms)
        now_ns = self.get_clock().now().nanoseconds  # 0 under use_sim_time until /clock first arrives
        latency_ms = (now_ns * 1e-9 - stamp) * 1e3 if now_ns > 0 else None
        self.health.frame_refined(time.monotonic(), total_ms, latency_ms, len(results))

    def _warn_restarted(self, restarted):
        for t, why in restarted:
            self.throttle.warn(f"reinit:{t.track_id}", f"track {t.track_id} ({t.class_id}) re-initialized "
                                                       f"from its detection ({why})")

    # ---- outputs ---------------------------------------------------------------------------------
    def _publish(self, msg, rgb, K, tracks, timings, total_ms):
        if not rclpy.ok():  # shutting down: the publishers' context is gone
            return
        header, p = msg.header, self.params
        self.pub_det.publish(messages.refined_detections(header, tracks, self.models))
        if p["publish_tf"] and tracks:
            self.pub_tf.publish(messages.track_transforms(header, tracks, p["tf_prefix"]))
        self.pub_status.publish(messages.refinement_status(header, tracks, timings, total_ms, self.inputs.dropped,
                                                           len(self.tracks.tracks)))
        if p["publish_markers"] and self.pub_markers.get_subscription_count() > 0:
            self.pub_markers.publish(messages.mesh_markers(header, tracks, self.models, p["mesh_unit"]))
        if self.pub_overlay.get_subscription_count() > 0 and self.refiner is not None:
            from .overlay import draw_outlines
            img = draw_outlines(self.refiner.renderer, rgb, K, [(t.obj_id, t.pose) for t in tracks],
                                [f"{t.class_id}_{t.track_id}" for t in tracks])
            self.pub_overlay.publish(camera.rgb_to_image(Image, img, header))

    def destroy_node(self):
        if hasattr(self, "worker"):  # absent when start-up failed half way (bad parameter, file)
            self.inputs.stop()
            self.worker.join(timeout=5.0)
        return super().destroy_node()


def main(args=None) -> int:
    from .process import run_node
    return run_node(RefinerNode, "deeprm_refiner", args, executor_threads=4)


if __name__ == "__main__":
    raise SystemExit(main())
