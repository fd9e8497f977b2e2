"""kling_widget.editor"""
