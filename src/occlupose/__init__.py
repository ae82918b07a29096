"""occlupose: occlusion-aware 3D human pose estimation in video (Cheng et al., ICCV 2019)."""

__version__ = "0.1.0"
