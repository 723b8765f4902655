"""Offscreen OpenGL rendering in the OpenCV camera convention (moderngl on EGL: Mesa on the CPU, the GPU on NVIDIA)."""
from .renderer import Renderer, RenderOutput, opencv_projection

__all__ = ["Renderer", "RenderOutput", "opencv_projection"]
