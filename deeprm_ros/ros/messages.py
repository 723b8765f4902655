"""The node's output messages, built from its tracks: refined Detection3DArray, TF, RefinementStatus and mesh
markers. Pure functions of plain data (no rclpy node), so each is tested on its own."""
from __future__ import annotations

import numpy as np

from geometry_msgs.msg import Pose, TransformStamped
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection3D, Detection3DArray, ObjectHypothesisWithPose
from visualization_msgs.msg import Marker, MarkerArray

from deeprm_ros.msg import ObjectRefinement, RefinementStatus

from . import conversions as conv


def refined_detections(header, tracks, models) -> Detection3DArray:
    """One Detection3D per track: id = track id, the refined pose as the hypothesis with the pose's confidence
    (tracking/confidence.py) as its score, and the mesh's axis-aligned bounding box (in the object frame) posed
    with it."""
    arr = Detection3DArray()
    arr.header = header
    for t in tracks:
        d = Detection3D()
        d.header = header
        d.id = str(t.track_id)
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = t.class_id
        hyp.hypothesis.score = float(t.confidence)
        hyp.pose.pose = conv.matrix_to_pose(t.pose, Pose)
        d.results.append(hyp)
        vertices = models[t.obj_id].vertices
        lo, hi = vertices.min(0), vertices.max(0)
        centre = np.eye(4)
        centre[:3, 3] = (lo + hi) / 2
        d.bbox.center = conv.matrix_to_pose(t.pose @ centre, Pose)
        d.bbox.size.x, d.bbox.size.y, d.bbox.size.z = (float(v) for v in (hi - lo))
        arr.detections.append(d)
    return arr


def track_transforms(header, tracks, tf_prefix: str) -> TFMessage:
    """One transform per track from the camera frame to <tf_prefix><class_id>_<track_id>."""
    tfs = TFMessage()
    for t in tracks:
        tf = TransformStamped()
        tf.header = header
        tf.child_frame_id = f"{tf_prefix}{t.class_id}_{t.track_id}"
        p = conv.matrix_to_pose(t.pose, Pose)
        tf.transform.translation.x, tf.transform.translation.y, tf.transform.translation.z = \
            p.position.x, p.position.y, p.position.z
        tf.transform.rotation = p.orientation
        tfs.transforms.append(tf)
    return tfs


def refinement_status(header, tracks, timings_ms: dict, total_ms: float, dropped_frames: int,
                      track_count: int) -> RefinementStatus:
    """Per refined track its iterations, last update, convergence, confidence and re-initializations; the frame's
    stage times and counters."""
    status = RefinementStatus()
    status.header = header
    for t in tracks:
        o = ObjectRefinement()
        o.track_id, o.class_id = str(t.track_id), t.class_id
        o.iterations = int(t.iterations_run)
        o.translation_update_mm = float(t.last_translation_mm)
        o.rotation_update_deg = float(t.last_rotation_deg)
        o.converged = bool(t.converged)
        o.confidence = float(t.confidence)
        o.reinitializations = int(t.reinitializations)
        status.objects.append(o)
    status.render_ms = float(timings_ms.get("render", 0.0))
    status.network_ms = float(timings_ms.get("network", 0.0))
    status.total_ms = float(total_ms)
    status.dropped_frames = int(dropped_frames)
    status.track_count = int(track_count)
    return status


def mesh_markers(header, tracks, models, mesh_unit: str) -> MarkerArray:
    """A DELETEALL, then one MESH_RESOURCE marker per track (the mesh file, scaled from its unit to metres)."""
    arr = MarkerArray()
    clear = Marker()
    clear.header = header
    clear.action = Marker.DELETEALL
    arr.markers.append(clear)
    scale = 1e-3 if mesh_unit == "mm" else 1.0
    for t in tracks:
        m = Marker()
        m.header = header
        m.ns = "deeprm"
        m.id = int(t.track_id)
        m.type = Marker.MESH_RESOURCE
        m.action = Marker.ADD
        m.pose = conv.matrix_to_pose(t.pose, Pose)
        mesh = models[t.obj_id]
        m.mesh_resource = f"file://{mesh.path}" if getattr(mesh, "path", None) else ""
        m.mesh_use_embedded_materials = True
        m.scale.x = m.scale.y = m.scale.z = scale
        m.color.r, m.color.g, m.color.b, m.color.a = 0.2, 0.8, 0.2, 0.8
        arr.markers.append(m)
    return arr
