"""edgeloop.protocol: the edgeloop link protocol v1 (see SPEC.md beside this file).

Pure Python with no Qt, OpenCV or app imports, so any host tool can speak to
a board with it.
"""
