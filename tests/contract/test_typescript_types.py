"""TypeScript types generated from the specs (openapi-typescript) are the specs': `tsc --strict` accepts
well-typed request bodies and refuses `conf: 42` and `slots: "x"`, and operations are named by their ids
(for openapi/v1.yaml: every operation of the file, and its answers typed as the spec says).

The tools come from scripts/spec-lint/package.json, installed into .node/ by `scripts/lint-spec --install`
(as `make lint` does); without Node.js and npm this test is skipped, saying so.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from slipstream.api.app import SPEC_PATH, V1_SPEC_PATH, load_spec

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = ROOT / ".node" / "node_modules" / ".bin"

WELL_TYPED = """
import type { components, operations } from "./api";
type TriggerRequest = components["schemas"]["TriggerRequest"];
export const a: TriggerRequest = { conf: { key: "value" }, replace_microseconds: true };
export const b: TriggerRequest = {
  conf: '{"key": "value"}', replace_microseconds: "yes", execution_date: "2030-01-01",
};
export const p: components["schemas"]["PoolInput"] = { name: "etl", slots: 4 };
export type Latest = operations["getLatestRuns"]["responses"][200]["content"]["application/json"];
export type Trigger = operations["triggerDagRun"]["requestBody"];
"""
MISTYPED = {
    "conf: 42": (
        'import type { components } from "./api";\n'
        'export const a: components["schemas"]["TriggerRequest"] = { conf: 42 };\n'
    ),
    'slots: "x"': (
        'import type { components } from "./api";\n'
        'export const p: components["schemas"]["PoolInput"] = { name: "etl", slots: "x" };\n'
    ),
}

pytestmark = pytest.mark.slow


def generate_types(spec: Path, folder: Path) -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed: openapi-typescript and tsc cannot run here")
    install = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lint-spec"), "--install"], capture_output=True, text=True, timeout=900
    )
    if install.returncode != 0:
        pytest.skip(f"npm could not install openapi-typescript and typescript: {install.stderr.strip()}")
    result = subprocess.run(
        [str(BIN / "openapi-typescript"), str(spec), "--output", str(folder / "api.d.ts")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warn" not in (result.stdout + result.stderr).lower(), result.stdout + result.stderr
    return folder


@pytest.fixture(scope="module")
def types_folder(tmp_path_factory) -> Path:
    return generate_types(SPEC_PATH, tmp_path_factory.mktemp("typescript"))


@pytest.fixture(scope="module")
def v1_types_folder(tmp_path_factory) -> Path:
    return generate_types(V1_SPEC_PATH, tmp_path_factory.mktemp("typescript_v1"))


def tsc_strict(folder: Path, source: str) -> subprocess.CompletedProcess:
    (folder / "calls.ts").write_text(source, encoding="utf-8")
    return subprocess.run(
        [str(BIN / "tsc"), "--strict", "--noEmit", "calls.ts", "api.d.ts"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_operations_are_named_by_their_ids(types_folder):
    types = (types_folder / "api.d.ts").read_text(encoding="utf-8")

    assert 'post: operations["triggerDagRun"]' in types
    assert 'get: operations["getLatestRuns"]' in types
    assert "handlers." not in types


def test_well_typed_bodies_pass_tsc_strict(types_folder):
    result = tsc_strict(types_folder, WELL_TYPED)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("field", sorted(MISTYPED))
def test_a_mistyped_field_fails_tsc_strict(types_folder, field):
    result = tsc_strict(types_folder, MISTYPED[field])
    assert result.returncode != 0
    assert "calls.ts(2," in result.stdout and "error TS2322" in result.stdout, result.stdout


# -- /api/v1 ----------------------------------------------------------------------------------------

V1_WELL_TYPED = """
import type { components, operations } from "./api";
export const v: components["schemas"]["VersionInfo"] = { version: "2.10.5", git_version: null };
export const e: components["schemas"]["Error"] = { type: "about:blank", title: null, status: 404, detail: "gone" };
export type Health = operations["getHealth"]["responses"][200]["content"]["application/json"];
export type Refused = operations["getVersion"]["responses"][401]["content"]["application/problem+json"];
"""
V1_MISTYPED = {
    "version: 1": (
        'import type { components } from "./api";\n'
        'export const v: components["schemas"]["VersionInfo"] = { version: 1 };\n'
    ),
    'status: "404"': (
        'import type { components } from "./api";\n'
        'export const e: components["schemas"]["Error"] = { type: "about:blank", title: null, status: "404" };\n'
    ),
}


def test_every_v1_operation_is_named_by_its_id(v1_types_folder):
    types = (v1_types_folder / "api.d.ts").read_text(encoding="utf-8")
    spec = load_spec(V1_SPEC_PATH)
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values() if isinstance(op, dict)]
    assert "getVersion" in ids
    for operation_id in ids:
        assert f'operations["{operation_id}"]' in types, operation_id
    assert "handlers." not in types


def test_well_typed_v1_values_pass_tsc_strict(v1_types_folder):
    result = tsc_strict(v1_types_folder, V1_WELL_TYPED)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("field", sorted(V1_MISTYPED))
def test_a_mistyped_v1_field_fails_tsc_strict(v1_types_folder, field):
    result = tsc_strict(v1_types_folder, V1_MISTYPED[field])
    assert result.returncode != 0
    assert "calls.ts(2," in result.stdout and "error TS2322" in result.stdout, result.stdout
