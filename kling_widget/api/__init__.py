"""kling_widget.api"""
