"""SIPssert's templated YAML: every file is a Jinja2 template rendered, then parsed as YAML.

The variables come in three levels, each rendered with the ones above it and then merged over them:
the run's `defines.yml` (above the test sets), the set's `defines.yml`, the test's `defines.yml`.
The set's `config.yml` sees the set level; the test's `scenario.yml` sees the test level.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from pysips.sipssert.discovery import CONFIG_FILE, DEFINES_FILE, SCENARIO_FILE, TestLocation


class TemplateError(Exception):
    """A template or the YAML it renders to is invalid; the message names the file."""


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(autoescape=False)
    env.filters["getenv"] = os.environ.get
    return env


_ENV = _environment()


def render_text(text: str, variables: dict[str, Any], origin: str = "<text>") -> str:
    try:
        return _ENV.from_string(text).render(variables)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{origin}: template error: {exc}") from exc


def render_yaml(path: Path, variables: dict[str, Any]) -> Any:
    """The YAML document of `path` after template expansion (None for an empty file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read: {exc.strerror}") from exc
    rendered = render_text(text, variables, str(path))
    try:
        return yaml.safe_load(rendered)
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: invalid YAML after rendering: {exc}") from exc


def _mapping(value: Any, path: Path) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TemplateError(f"{path}: expected a mapping at the top level")
    return {str(k): v for k, v in value.items()}


def layer_defines(folder: Path | None, inherited: dict[str, Any]) -> dict[str, Any]:
    """`inherited` with the folder's defines.yml (rendered with `inherited`) merged over it."""
    if folder is None:
        return dict(inherited)
    path = folder / DEFINES_FILE
    if not path.is_file():
        return dict(inherited)
    return inherited | _mapping(render_yaml(path, inherited), path)


@dataclass(frozen=True, slots=True)
class RenderedTest:
    defines: dict[str, Any]  # the test level's variables
    set_config: dict[str, Any]  # the set's config.yml (networks, defaults per task type)
    scenario: dict[str, Any]  # the test's scenario.yml


def render_test(location: TestLocation, extra: dict[str, Any] | None = None) -> RenderedTest:
    run_defines = layer_defines(location.root_directory, dict(extra or {}))
    set_defines = layer_defines(location.set_directory, run_defines)
    config_path = location.set_directory / CONFIG_FILE
    set_config = _mapping(render_yaml(config_path, set_defines), config_path) if config_path.is_file() else {}
    test_defines = layer_defines(location.directory, set_defines)
    scenario_path = location.directory / SCENARIO_FILE
    scenario = _mapping(render_yaml(scenario_path, test_defines), scenario_path)
    return RenderedTest(test_defines, set_config, scenario)
