"""Training losses: the disentangled point-matching loss (Eq. 2) and the multi-scale flow EPE (Eq. 3)."""
from .point_matching import point_matching_l1, disentangled_point_matching, symmetric_pose_loss, closest_symmetric_pose
from .flow import flow_from_poses, multiscale_epe, FLOW_SCALE_WEIGHTS

__all__ = ["point_matching_l1", "disentangled_point_matching", "symmetric_pose_loss", "closest_symmetric_pose",
           "flow_from_poses", "multiscale_epe", "FLOW_SCALE_WEIGHTS"]
