"""Package discovery for the root-mapped `edgeloop` package (metadata lives in pyproject.toml).

pyproject's static `packages.find` cannot prefix discovered names, so the
subpackages of app/, protocol/ and models/ are found here and renamed to
edgeloop.app.*, edgeloop.protocol.* and edgeloop.models.*.
"""

from setuptools import find_packages, setup

TOP_LEVEL = ("app", "protocol", "models")

packages = ["edgeloop"] + [
    f"edgeloop.{name}"
    for name in find_packages(include=[*TOP_LEVEL, *(f"{top}.*" for top in TOP_LEVEL)])
]

setup(packages=packages)
