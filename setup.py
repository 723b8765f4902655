"""pip install . : the pure-Python part of deeprm_ros for training-only users (no ROS needed).

ROS 2 users build the package with colcon instead (package.xml says ament_cmake: CMakeLists.txt generates the
messages and installs deeprm_ros/ beside them). Never `pip install .` into a prefix that holds the
colcon/CMake-installed package: pip would replace the whole deeprm_ros folder, deeprm_ros.msg included.
"""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def requirements(name: str = "requirements.txt"):
    """A requirements file's entries, without comments."""
    lines = (HERE / name).read_text().splitlines()
    return [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]


setup(
    name="deeprm_ros",
    version="0.1.0",
    description="DeepRM 6D pose refinement (learning core) with a ROS 2 node",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    # Explicit list: the flat layout has msg/, config/, launch/ beside the package, which automatic
    # discovery refuses.
    packages=find_packages(include=["deeprm_ros", "deeprm_ros.*"]),
    package_data={"deeprm_ros.data": ["textures/*.png", "textures/README.md"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/deeprm_ros"]),
        ("share/deeprm_ros", ["package.xml"]),
        ("share/deeprm_ros/config", [str(p.relative_to(HERE)) for p in sorted((HERE / "config").glob("*.yaml"))]),
    ],
    install_requires=requirements(),
    extras_require={"test": ["pytest>=8.0", "hypothesis>=6.100"], "pbr": requirements("requirements-pbr.txt")},
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "deeprm-train = deeprm_ros.train:main",
            "deeprm-evaluate = deeprm_ros.evaluate:main",
            "deeprm-export = deeprm_ros.export:main",
        ],
    },
    zip_safe=False,
)
