"""DeepRM 6D pose refinement (learning core) and its ROS 2 node (deeprm_ros.ros).

Kept light on purpose: importing deeprm_ros imports neither torch nor rclpy. When the package is installed by
the ROS build (colcon/ament_cmake), the generated messages sit beside the modules: deeprm_ros.msg.
"""

__version__ = "0.1.0"
