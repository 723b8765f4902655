"""The ROS 2 side of deeprm_ros: the only subpackage that imports rclpy and the message packages.

Executables (installed into lib/deeprm_ros): refiner_node (deeprm_ros.ros.node), synthetic_camera
(deeprm_ros.ros.synthetic_camera), demo (deeprm_ros.ros.demo), param_check (deeprm_ros.ros.param_check).
"""
