import pytest


@pytest.fixture(scope="session")
def demo_models():
    from deeprm_ros.meshes import load_object_library
    from deeprm_ros.ros.resources import default_models_dir
    return load_object_library(default_models_dir())


@pytest.fixture(scope="session")
def demo_renderer(demo_models):
    from deeprm_ros.render import Renderer
    return Renderer(demo_models, 640, 480)
