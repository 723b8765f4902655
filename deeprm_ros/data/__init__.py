"""Datasets: BOP-format reader (bop.py) and writer (bop_writer.py), synthetic generator, initial-pose perturbation,
BOP results CSV. Nothing is imported here so that `import deeprm_ros.data.perturbation` stays free of cv2/torch;
import the submodules directly (`from deeprm_ros.data.bop import BopDataset`)."""
