"""Builds the tids package: our modules, plus the protobuf classes that
protoc generates from the repository's proto/ at build time (generated code
is never kept in git). protoc is $PROTOC or `protoc` on PATH; the .proto
files are $TIDS_PROTO_DIR or ../../proto from here."""
import glob
import os
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithProtos(build_py):
    def run(self) -> None:
        super().run()
        here = os.path.dirname(os.path.abspath(__file__))
        proto_dir = os.environ.get("TIDS_PROTO_DIR", os.path.join(here, "..", "..", "proto"))
        protos = sorted(glob.glob(os.path.join(proto_dir, "tids", "v1", "*.proto")))
        if not protos:
            raise SystemExit("tids: no tids/v1/*.proto under %s (set TIDS_PROTO_DIR)" % proto_dir)
        # The classes land in tids/v1/ of the build, so `import tids.v1.record_pb2`
        # (what protoc's own imports say) resolves inside this package.
        subprocess.check_call([os.environ.get("PROTOC", "protoc"), "-I" + proto_dir,
                               "--python_out=" + self.build_lib] + protos)
        init = os.path.join(self.build_lib, "tids", "v1", "__init__.py")
        with open(init, "w", encoding="ascii") as f:
            f.write('"""tids.v1 protobuf classes, generated from proto/ by protoc."""\n')


setup(cmdclass={"build_py": BuildWithProtos})
