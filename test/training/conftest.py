import pytest

TINY_MODEL = {"phi": 0, "backbone": "efficientnet_lite0", "recurrent": "lstm", "hidden_sizes": [32, 32, 16],
              "reduce_channels": 8, "input_size": [64, 96], "with_flow": True}


def tiny_config(root, **train):
    """A training config small enough for a CPU test (a few seconds per step at most)."""
    cfg = {"model": dict(TINY_MODEL),
           "data": {"root": str(root), "split": "train_pbr", "images_per_batch": 2, "objects_per_image": 2,
                    "min_visib_fract": 0.05, "cache_images": True},
           "optim": {"lr": 1e-3, "epochs": 1, "steps_per_epoch": 4, "milestones": []},
           "loss": {"n_points": 100, "n_continuous_symmetries": 16},
           "train": {"iterations": 2, "amp": False, "threads": 1, "checkpoint_every_steps": 2, "log_every_steps": 1}}
    cfg["train"].update(train)
    return cfg


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """8 training and 4 test images of the demo objects, generated with the project's generator (320x240)."""
    import torch  # noqa: F401
    from deeprm_ros.data.synthetic import SceneConfig, generate
    from deeprm_ros.ros.resources import default_models_dir

    root = tmp_path_factory.mktemp("tiny_bop")
    cfg = SceneConfig(width=320, height=240, focal_range=(280.0, 300.0), objects_range=(2, 3), images_per_scene=5)
    generate(default_models_dir(), root, "train_pbr", 8, seed=0, cfg=cfg, progress=False)
    generate(default_models_dir(), root, "test", 4, seed=1, cfg=cfg, progress=False)
    return root
