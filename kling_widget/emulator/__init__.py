"""kling_widget.emulator"""
