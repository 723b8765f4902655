"""Start the DeepRM refiner node.

    ros2 launch deeprm_ros refine.launch.py
    ros2 launch deeprm_ros refine.launch.py use_rviz:=true log_level:=debug
    ros2 launch deeprm_ros refine.launch.py namespace:=cam1 image:=/camera/color/image_raw \
        camera_info:=/camera/color/camera_info detections:=/detector/detections3d config_file:=/path/to/my.yaml

Inputs: image (sensor_msgs/Image), camera_info (sensor_msgs/CameraInfo), detections (vision_msgs/Detection3DArray,
coarse poses). Outputs: refined_detections (vision_msgs/Detection3DArray), refinement_status (deeprm_ros/RefinementStatus),
markers (visualization_msgs/MarkerArray), overlay (sensor_msgs/Image), TF frames on /tf and the node's health on
/diagnostics. With use_rviz:=true, rviz2 starts in the same namespace with config/deeprm.rviz, whose topics are
relative and remapped like the node's.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, Shutdown
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "deeprm_ros"
EXECUTABLE = "refiner_node"
CONFIG = "refiner.yaml"
RVIZ_CONFIG = "deeprm.rviz"

# (launch argument, node topic name, default remapped target)
TOPICS = [
    ("image", "image", "image"),
    ("camera_info", "camera_info", "camera_info"),
    ("detections", "detections", "detections"),
    ("refined_detections", "refined_detections", "refined_detections"),
    ("refinement_status", "refinement_status", "refinement_status"),
    ("markers", "markers", "markers"),
    ("overlay", "overlay", "overlay"),
]


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    default_config = os.path.join(share, "config", CONFIG)
    args = [
        DeclareLaunchArgument("config_file", default_value=default_config,
                              description="Parameters file of the refiner node"),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the node and its topics"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="Use /clock (simulation time)"),
        DeclareLaunchArgument("log_level", default_value="info", description="Logging level of the node"),
        DeclareLaunchArgument("use_rviz", default_value="false", description="Also start rviz2 with config/deeprm.rviz"),
    ]
    args += [DeclareLaunchArgument(arg, default_value=default, description=f"Topic remapped to the node's '{topic}'")
             for arg, topic, default in TOPICS]

    node = Node(
        package=PACKAGE,
        executable=EXECUTABLE,
        name="deeprm_refiner",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[LaunchConfiguration("config_file"),
                    {"use_sim_time": LaunchConfiguration("use_sim_time")}],
        remappings=[(topic, LaunchConfiguration(arg)) for arg, topic, _ in TOPICS],
        ros_arguments=["--log-level", LaunchConfiguration("log_level")],
        # The refiner exits (status 1) when it cannot go on: end the whole launch then, rviz included.
        on_exit=Shutdown(reason="deeprm_refiner exited"),
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="deeprm_rviz",
        namespace=LaunchConfiguration("namespace"),
        arguments=["-d", os.path.join(share, "config", RVIZ_CONFIG)],
        parameters=[{"use_sim_time": LaunchConfiguration("use_sim_time")}],
        remappings=[(topic, LaunchConfiguration(arg)) for arg, topic, _ in TOPICS],
        condition=IfCondition(LaunchConfiguration("use_rviz")),
    )
    return LaunchDescription(args + [node, rviz])
