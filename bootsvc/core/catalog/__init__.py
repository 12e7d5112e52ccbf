"""The image catalog: images, versions, channels, what a version boots with, and
importing and releasing versions."""
