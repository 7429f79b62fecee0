"""Static scan of pickle-based weight files: which Python objects would unpickling them import?

Pickles run code when loaded: `GLOBAL`/`STACK_GLOBAL`/`INST` opcodes import any callable (os.system,
builtins.eval, …) and `REDUCE` calls it. This module walks the opcodes with the standard library's
`pickletools` and never unpickles anything. A file is `safe` when every import is on the list below (what
`torch.save` of a state dict and numpy arrays need), `unsafe` otherwise, `error` when it cannot be read.

Bounded work on hostile input: at most MAX_PICKLE_BYTES of opcodes per file and per zip member, at most
MAX_PICKLES consecutive pickles (legacy torch files hold several), at most MAX_ZIP_MEMBERS pickle members in a
torch zip, each read through a capped reader (a zip bomb decompresses only up to the cap).
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from dataclasses import dataclass, field
from typing import BinaryIO

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib")
MAX_PICKLE_BYTES = 64 * 1024 * 1024
MAX_PICKLES = 8
MAX_ZIP_MEMBERS = 64
MAX_IMPORTS = 1000

SAFE, UNSAFE, ERROR = "safe", "unsafe", "error"
INNOCUOUS, SUSPICIOUS, DANGEROUS = "innocuous", "suspicious", "dangerous"

_TORCH_STORAGES = {
    f"{kind}Storage"
    for kind in (
        "Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool", "ComplexFloat",
        "ComplexDouble", "QUInt8", "QInt8", "QInt32", "QUInt4x2", "QUInt2x4", "Untyped",
    )
}  # fmt: skip
_TORCH_DTYPES = {
    "float16", "float32", "float64", "bfloat16", "half", "float", "double", "int8", "int16", "int32", "int64",
    "uint8", "bool", "complex64", "complex128", "float8_e4m3fn", "float8_e5m2", "Size", "device", "dtype",
}  # fmt: skip
SAFE_IMPORTS: dict[str, set[str]] = {
    "collections": {"OrderedDict", "defaultdict", "Counter"},
    "torch": _TORCH_STORAGES | _TORCH_DTYPES,
    "torch.storage": {"UntypedStorage", "TypedStorage"},
    "torch._utils": {
        "_rebuild_tensor",
        "_rebuild_tensor_v2",
        "_rebuild_tensor_v3",
        "_rebuild_parameter",
        "_rebuild_parameter_with_state",
        "_rebuild_qtensor",
        "_rebuild_sparse_tensor",
        "_rebuild_nested_tensor",
        "_rebuild_device_tensor_from_numpy",
        "_rebuild_meta_tensor_no_storage",
        "_rebuild_wrapper_subclass",
    },  # fmt: skip
    "torch._tensor": {"_rebuild_from_type_v2"},
    "torch.nn.parameter": {"Parameter"},
    "numpy": {"ndarray", "dtype"},
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"},
    "numpy.core.numeric": {"_frombuffer"},
    "numpy._core.numeric": {"_frombuffer"},
    "numpy.dtypes": {
        f"{n}DType" for n in ("Float16", "Float32", "Float64", "Int8", "Int16", "Int32", "Int64", "UInt8", "Bool")
    },  # fmt: skip
    "_codecs": {"encode"},  # numpy's protocol-2 pickles rebuild bytes with it
    "builtins": {
        "set",
        "frozenset",
        "slice",
        "complex",
        "bytearray",
        "tuple",
        "list",
        "dict",
        "int",
        "float",
        "bool",
        "str",
        "bytes",
        "range",
    },  # fmt: skip
}
# Modules whose import is an obvious attack (a subset of the unsafe ones, ranked higher for display).
DANGEROUS_MODULES = {
    "os", "posix", "nt", "subprocess", "sys", "socket", "shutil", "runpy", "pty", "webbrowser", "importlib",
    "pickle", "_pickle", "marshal", "ctypes", "code", "codeop", "pdb", "timeit", "multiprocessing", "asyncio",
    "requests", "urllib", "http", "ftplib", "smtplib", "telnetlib", "tempfile", "pathlib", "io", "_io", "types",
    "operator", "functools", "commands", "popen2", "platform", "signal", "bdb", "dill", "cloudpickle",
}  # fmt: skip
DANGEROUS_NAMES = {
    ("builtins", n) for n in ("eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "__import__",
                              "globals", "locals", "vars", "breakpoint", "input", "memoryview", "help", "apply")
} | {("__builtin__", n) for n in ("eval", "exec", "compile", "open", "getattr", "__import__", "execfile", "file")} | {
    ("torch", "load"), ("torch.serialization", "load"), ("torch.storage", "_load_from_bytes"), ("torch.hub", "load"),
    ("torch.jit", "load"), ("numpy", "load"), ("numpy.lib.npyio", "load"), ("joblib", "load"),
}  # fmt: skip


@dataclass(frozen=True)
class Import:
    module: str
    name: str
    safety: str

    def as_dict(self) -> dict:
        return {"module": self.module, "name": self.name, "safety": self.safety}


@dataclass
class ScanResult:
    status: str
    imports: list[Import] = field(default_factory=list)
    message: str = ""

    @property
    def highest_safety_level(self) -> str:
        levels = {i.safety for i in self.imports}
        for level in (DANGEROUS, SUSPICIOUS):
            if level in levels:
                return level
        return INNOCUOUS


def is_pickle_path(path: str) -> bool:
    return path.lower().endswith(PICKLE_SUFFIXES)


def classify(module: str, name: str) -> str:
    if name in SAFE_IMPORTS.get(module, ()):
        return INNOCUOUS
    root = module.split(".", 1)[0]
    if (module, name) in DANGEROUS_NAMES or root in DANGEROUS_MODULES or module in DANGEROUS_MODULES:
        return DANGEROUS
    return SUSPICIOUS


class _TooLarge(Exception):
    pass


class _CappedReader(io.RawIOBase):
    """A read-only view of `f` that refuses to go past `limit` bytes (pickletools trusts declared lengths)."""

    def __init__(self, f: BinaryIO, limit: int) -> None:
        self._f = f
        self._left = limit
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > self._left:
            raise _TooLarge
        data = self._f.read(n)
        self._left -= len(data)
        self.consumed += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        # pickletools reads text arguments (GLOBAL, INST, protocol-0 values) line by line.
        out = bytearray()
        while True:
            if self._left <= 0:
                raise _TooLarge
            ch = self._f.read(1)
            if not ch:
                break
            self._left -= 1
            self.consumed += 1
            out += ch
            if ch == b"\n":
                break
        return bytes(out)

    def tell(self) -> int:
        return self.consumed

    def peek1(self) -> bytes:
        pos = self._f.tell()
        data = self._f.read(1)
        self._f.seek(pos)
        return data


def _imports_of_one_pickle(reader: _CappedReader, found: list[tuple[str, str]]) -> None:
    """Walk one pickle (up to STOP), appending (module, name) for each import opcode.

    The stack and memo are simulated (values are kept only for strings), so STACK_GLOBAL's operands are the
    ones the unpickler would really take, whatever pushes, pops, DUPs and memo tricks came before.
    """
    stack: list[object] = []
    marks: list[int] = []
    memo: dict[int, object] = {}

    def pop(n: int) -> list[object]:
        if n > len(stack) - (marks[-1] if marks else 0):
            raise ValueError("stack underflow")
        taken = stack[len(stack) - n :] if n else []
        del stack[len(stack) - n :]
        return taken

    for opcode, arg, _pos in pickletools.genops(reader):
        name = opcode.name
        if name == "MARK":
            marks.append(len(stack))
            continue
        if name == "MEMOIZE":
            memo[len(memo)] = stack[-1] if stack else None
            continue
        if name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[int(arg)] = stack[-1] if stack else None
            continue
        if name == "DUP":
            stack.append(stack[-1] if stack else None)
            continue
        before = opcode.stack_before
        if pickletools.markobject in before:
            if not marks:
                raise ValueError("no MARK on the stack")
            del stack[marks.pop() :]
            operands = pop(before.index(pickletools.markobject))
        else:
            operands = pop(len(before))
        pushed: object = None
        if name in ("GLOBAL", "INST"):
            module, _, attr = str(arg).partition(" ")
            found.append((module, attr))
        elif name == "STACK_GLOBAL":
            module, attr = operands
            if isinstance(module, str) and isinstance(attr, str):
                found.append((module, attr))
            else:
                found.append(("?", "?"))  # computed at load time: cannot be checked, so never safe
        elif name in ("EXT1", "EXT2", "EXT4"):
            found.append(("copyreg", f"extension {arg}"))
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            pushed = memo.get(int(arg))
        elif isinstance(arg, str):
            pushed = arg
        stack.extend([pushed] * len(opcode.stack_after))
        if len(found) > MAX_IMPORTS:
            raise _TooLarge


def _scan_pickles(f: BinaryIO, limit: int) -> tuple[list[tuple[str, str]], str]:
    """Imports of the consecutive pickles at the start of `f`, and an error message ('' when read whole)."""
    reader = _CappedReader(f, limit)
    found: list[tuple[str, str]] = []
    for index in range(MAX_PICKLES):
        try:
            _imports_of_one_pickle(reader, found)
        except _TooLarge:
            return found, f"the pickle is larger than the scan limit of {limit} bytes"
        except Exception as exc:  # noqa: BLE001 - any parse failure of hostile bytes is a scan error
            if index == 0:
                return found, f"not a readable pickle ({exc.__class__.__name__})"
            break  # raw tensor bytes follow the last pickle of a legacy torch file
        try:
            following = reader.peek1()
        except (OSError, ValueError):
            break
        # Legacy torch.save writes several protocol-2 pickles back to back, then raw storage bytes.
        if following != b"\x80":
            break
    return found, ""


def _scan_zip(f: BinaryIO) -> tuple[list[tuple[str, str]], str]:
    try:
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return [], f"not a readable zip archive ({exc.__class__.__name__})"
    members = [info for info in archive.infolist() if info.filename.endswith(".pkl")]
    if not members:
        return [], "the zip archive holds no pickle"
    if len(members) > MAX_ZIP_MEMBERS:
        return [], f"the zip archive holds more than {MAX_ZIP_MEMBERS} pickles"
    found: list[tuple[str, str]] = []
    for info in members:
        if info.file_size > MAX_PICKLE_BYTES:
            return found, f"'{info.filename}' is larger than the scan limit of {MAX_PICKLE_BYTES} bytes"
        try:
            with archive.open(info) as member:
                # Read through the cap: the declared size may lie (a decompression bomb).
                data = member.read(MAX_PICKLE_BYTES + 1)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
            return found, f"'{info.filename}' cannot be read ({exc.__class__.__name__})"
        if len(data) > MAX_PICKLE_BYTES:
            return found, f"'{info.filename}' is larger than the scan limit of {MAX_PICKLE_BYTES} bytes"
        member_found, error = _scan_pickles(io.BytesIO(data), MAX_PICKLE_BYTES)
        found += member_found
        if error:
            return found, f"'{info.filename}': {error}"
    return found, ""


def scan(f: BinaryIO) -> ScanResult:
    """Scan a seekable binary file: a pickle, consecutive pickles (legacy torch), or a torch zip archive."""
    head = f.read(4)
    f.seek(0)
    if head == b"PK\x03\x04":
        found, error = _scan_zip(f)
    else:
        found, error = _scan_pickles(f, MAX_PICKLE_BYTES)
    imports = sorted({Import(m, n, classify(m, n)) for m, n in found}, key=lambda i: (i.module, i.name))
    unsafe = any(i.safety != INNOCUOUS for i in imports)
    if unsafe:
        return ScanResult(UNSAFE, imports, error)
    return ScanResult(ERROR if error else SAFE, imports, error)


def scan_bytes(data: bytes) -> ScanResult:
    return scan(io.BytesIO(data))
