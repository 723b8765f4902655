"""Datasets: BOP-format reader (bop.py), writer (bop_writer.py) and format check (bop_check.py); the raster
(synthetic.py) and path-traced (pbr.py) generators with what they share (generation.py, gt_info.py,
scene_layout.py); training augmentation, initial-pose perturbation, BOP results CSV. Nothing is imported here so
that `import deeprm_ros.data.perturbation` stays free of cv2/torch; import the submodules directly
(`from deeprm_ros.data.bop import BopDataset`)."""
