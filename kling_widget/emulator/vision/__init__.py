"""The emulator's vision (OpenCV and NumPy, deterministic): segmentation from clicks
(``segment``), tracking under camera motion (``motion``, ``track``), removal from a
background plate (``plate``), the preview's files (``preview``) and rendering
(``render``). Imports nothing from the emulator outside this package."""
