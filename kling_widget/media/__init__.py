"""kling_widget.media"""
