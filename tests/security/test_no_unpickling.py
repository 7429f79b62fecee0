"""The hub never unpickles user files: no pickle.load(s), no torch.load without weights_only=True, no
numpy.load with allow_pickle, no joblib/dill/yaml.load of untrusted data, anywhere in hub/ or workers/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    p for folder in ("hub", "workers") for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts
)
FORBIDDEN_CALLS = {
    ("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("_pickle", "load"), ("_pickle", "loads"),
    ("cPickle", "load"), ("dill", "load"), ("dill", "loads"), ("joblib", "load"), ("cloudpickle", "load"),
    ("cloudpickle", "loads"), ("marshal", "load"), ("marshal", "loads"), ("shelve", "open"), ("yaml", "load"),
    ("yaml", "unsafe_load"), ("yaml", "full_load"), ("pandas", "read_pickle"), ("pd", "read_pickle"),
}  # fmt: skip


def _dotted(node: ast.AST) -> tuple[str, str] | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id, node.attr
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def findings(sources: list[Path] = SOURCES, root: Path = ROOT) -> list[str]:
    found = []
    for path in sources:
        tree = ast.parse(path.read_text(), filename=str(path))
        safe_loaders = {"SafeLoader", "CSafeLoader"} | {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            and any(getattr(b, "attr", getattr(b, "id", "")) in ("SafeLoader", "CSafeLoader") for b in node.bases)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in ("pickle", "_pickle", "dill", "joblib"):
                names = {a.name for a in node.names}
                if names & {"load", "loads", "Unpickler"}:
                    found.append(f"{path.relative_to(root)}:{node.lineno} imports {node.module}.load")
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(root)}:{node.lineno}"
            name = _dotted(node.func)
            if name in FORBIDDEN_CALLS:
                loader = _keyword(node, "Loader")
                loader_name = getattr(loader, "attr", getattr(loader, "id", None))
                if name == ("yaml", "load") and loader_name in safe_loaders:
                    continue
                found.append(f"{where} calls {name[0]}.{name[1]}")
            elif name == ("torch", "load"):
                weights_only = _keyword(node, "weights_only")
                if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                    found.append(f"{where} calls torch.load without weights_only=True")
            elif name in (("np", "load"), ("numpy", "load")):
                allow = _keyword(node, "allow_pickle")
                if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                    found.append(f"{where} calls numpy.load with allow_pickle")
            elif isinstance(node.func, ast.Attribute) and node.func.attr == "from_pretrained":
                # transformers/peft load .bin weights with torch.load unless told to prefer safetensors
                use = _keyword(node, "use_safetensors")
                if isinstance(use, ast.Constant) and use.value is False:
                    found.append(f"{where} calls from_pretrained(use_safetensors=False)")
    return found


def test_the_hub_never_unpickles_user_files():
    assert SOURCES, "no sources found"
    assert findings() == []


def test_the_source_scan_catches_what_it_should(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle, torch, numpy as np\n"
        "pickle.loads(b'')\n"
        "torch.load('x')\n"
        "torch.load('x', weights_only=False)\n"
        "torch.load('x', weights_only=True)\n"
        "np.load('x', allow_pickle=True)\n"
    )
    assert len(findings([bad], tmp_path)) == 4
