#!/usr/bin/env python3
"""Renders the mixin: writes every file build.jsonnet names into OUT.

    python3 mixin/render.py OUT [--tla-code NAME=VALUE ...]

With go-jsonnet, from PyPI's `gojsonnet` (`.ci/test` installs it), not Debian's C++ jsonnet 0.18: there,
std.manifestYamlDoc and std.escapeStringJson are written in jsonnet and rendering these files takes over a
minute; go-jsonnet has them built in and takes about a second. The output is the same language either way:
`jsonnet -S -m OUT mixin/build.jsonnet` renders the same files, slowly.
"""
import argparse
import json
import os
import sys

try:
    import _gojsonnet
except ImportError:
    sys.exit("mixin/render.py needs go-jsonnet's Python module: pip install gojsonnet")

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("out")
parser.add_argument("--tla-code", action="append", default=[], metavar="NAME=VALUE")
args = parser.parse_args()
tla = dict(arg.split("=", 1) for arg in args.tla_code)
build = os.path.join(os.path.dirname(os.path.abspath(__file__)), "build.jsonnet")
try:
    files = json.loads(_gojsonnet.evaluate_file(build, tla_codes=tla))
except RuntimeError as error:
    sys.exit(str(error))
os.makedirs(args.out, exist_ok=True)
for name, text in files.items():
    with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
        f.write(text)
