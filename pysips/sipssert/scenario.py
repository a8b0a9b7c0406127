"""The scenario model: a test's task lists with SIPssert's defaults, templates and volumes applied."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pysips.sipssert.discovery import TestLocation
from pysips.sipssert.requires import Kind, RequireError, Requirement, parse_requirements
from pysips.sipssert.templates import RenderedTest, render_test

PHASES = ("init_tasks", "tasks", "cleanup_tasks")
DAEMON_TYPES = frozenset({"opensips", "mysql", "postgresql", "rtpproxy", "asterisk"})
# where SIPssert mounts the test folder inside each kind of container
MOUNT_POINTS = {"opensips": "/etc/opensips"}
DEFAULT_MOUNT_POINT = "/home"


class ScenarioError(ValueError):
    """scenario.yml describes something SIPssert would refuse too."""


@dataclass(frozen=True, slots=True)
class Volume:
    name: str
    bind: str  # the path inside the containers
    mode: str


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    kind: str  # the task type, lower case ("opensips", "uac-sipp", ...)
    config: dict[str, Any]  # the task's keys with the set's defaults merged under them
    requires: tuple[Requirement, ...]
    ready: tuple[Requirement, ...]
    volumes: tuple[Volume, ...]
    labels: tuple[str, ...]
    daemon: bool
    mount_point: str

    def matches(self, name: str) -> bool:
        return name == self.name or name in self.labels

    def get(self, key: str, default: Any = None) -> Any:
        return self.config.get(key, default)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str  # set/test
    directory: Path
    timeout: float | None
    phases: dict[str, list[TaskSpec]]
    volumes: dict[str, Volume]
    subnets: tuple[str, ...]  # the docker networks' address ranges (bridge_networks)
    defines: dict[str, Any]
    set_config: dict[str, Any] = field(repr=False)
    raw: dict[str, Any] = field(repr=False)

    @property
    def tasks(self) -> list[TaskSpec]:
        return [t for phase in PHASES for t in self.phases[phase]]


def merge_under(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` with `base`'s keys filled in where `top` lacks them, recursively (SIPssert's defaults)."""
    result = dict(top)
    for key, value in base.items():
        if key not in result:
            result[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(result[key], dict):
            result[key] = merge_under(value, result[key])
    return result


def _volumes(raw: Any) -> dict[str, Volume]:
    if not raw:
        return {}
    if isinstance(raw, list):
        raw = {str(name): {} for name in raw}
    if not isinstance(raw, dict):
        raise ScenarioError("'volumes' must be a mapping or a list")
    result: dict[str, Volume] = {}
    for name, spec in raw.items():
        spec = spec or {}
        bind = spec.get("bind") if isinstance(spec, dict) else None
        mode = spec.get("mode", "rw") if isinstance(spec, dict) else "rw"
        if not bind:
            raise ScenarioError(f"volume {name!r} has no 'bind' path")
        result[str(name)] = Volume(str(name), str(bind), str(mode))
    return result


def _task_volumes(raw: Any, declared: dict[str, Volume], task: str) -> tuple[Volume, ...]:
    if not raw:
        return ()
    names = list(raw) if isinstance(raw, list | dict) else [raw]
    result: list[Volume] = []
    for name in names:
        override = raw.get(name) if isinstance(raw, dict) else None
        base = declared.get(str(name))
        bind = override.get("bind") if isinstance(override, dict) else None
        mode = override.get("mode") if isinstance(override, dict) else None
        if base is None and bind is None:
            raise ScenarioError(f"task {task!r}: volume {name!r} is not declared in the scenario")
        result.append(
            Volume(
                str(name),
                str(bind or (base.bind if base else "")),
                str(mode or (base.mode if base else "rw")),
            )
        )
    return tuple(result)


def _labels(config: dict[str, Any]) -> tuple[str, ...]:
    labels = config.get("labels", [])
    labels = [str(x) for x in labels] if isinstance(labels, list) else [str(labels)]
    if config.get("label"):
        labels.append(str(config["label"]))
    return tuple(labels)


def build_task(
    definition: dict[str, Any],
    index: int,
    defaults: dict[str, Any],
    templates: dict[str, Any],
    volumes: dict[str, Volume],
    network: Any,
) -> TaskSpec:
    definition = {str(k): v for k, v in definition.items()}
    template_key: str | None = None
    if "use" in definition:
        template_key = str(definition["use"]).lower()
        if template_key not in templates:
            raise ScenarioError(f"task {index + 1}: unknown task template {template_key!r}")
    elif str(definition.get("type", "")).lower() in templates:
        template_key = str(definition.pop("type")).lower()
    if template_key is not None:
        definition = merge_under(dict(templates[template_key]), definition)
    kind = str(definition.get("type", "generic")).lower()
    if isinstance(defaults.get(kind), dict):
        definition = merge_under(defaults[kind], definition)
    if network and "network" not in definition:
        definition["network"] = network
    name = str(definition.get("name", f"{kind}-{index + 1}"))
    try:
        requires = parse_requirements(definition.get("require"))
        ready = parse_requirements(definition.get("ready"))
    except RequireError as exc:
        raise ScenarioError(f"task {name!r}: {exc}") from None
    delay_start = definition.get("delay_start", 0)
    if delay_start:
        requires = (*requires, Requirement(Kind.DELAY, None, float(delay_start)))
    daemon = bool(definition.get("daemon", kind in DAEMON_TYPES))
    mount_point = str(definition.get("mount_point", MOUNT_POINTS.get(kind, DEFAULT_MOUNT_POINT)))
    return TaskSpec(
        name=name,
        kind=kind,
        config=definition,
        requires=requires,
        ready=ready,
        volumes=_task_volumes(definition.get("volumes"), volumes, name),
        labels=_labels(definition),
        daemon=daemon,
        mount_point=mount_point,
    )


def build_scenario(location: TestLocation, rendered: RenderedTest) -> Scenario:
    raw = rendered.scenario
    set_config = rendered.set_config
    defaults = set_config.get("defaults") or {}
    templates = {
        str(k).lower(): v
        for k, v in (raw.get("task_templates") or set_config.get("task_templates") or {}).items()
    }
    network = raw.get("network", set_config.get("network"))
    volumes = _volumes(raw.get("volumes"))
    phases: dict[str, list[TaskSpec]] = {}
    names: set[str] = set()
    for phase in PHASES:
        entries = raw.get(phase) or []
        if not isinstance(entries, list):
            raise ScenarioError(f"'{phase}' must be a list of tasks")
        tasks = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ScenarioError(f"{phase}[{i}]: a task must be a mapping")
            task = build_task(entry, i, defaults, templates, volumes, network)
            tasks.append(task)
            names.add(task.name)
            names.update(task.labels)
        phases[phase] = tasks
    for task in (t for phase in PHASES for t in phases[phase]):
        missing = [
            r.task for r in (*task.requires, *task.ready) if r.task is not None and r.task not in names
        ]
        if missing:
            raise ScenarioError(f"task {task.name!r} requires unknown task(s): {', '.join(missing)}")
    timeout = raw.get("timeout")
    subnets = tuple(
        str(n["subnet"])
        for n in (set_config.get("bridge_networks") or [])
        if isinstance(n, dict) and n.get("subnet")
    )
    return Scenario(
        name=location.name,
        directory=location.directory,
        timeout=float(timeout) if timeout else None,
        phases=phases,
        volumes=volumes,
        subnets=subnets,
        defines=rendered.defines,
        set_config=set_config,
        raw=raw,
    )


def load_scenario(location: TestLocation, extra: dict[str, Any] | None = None) -> Scenario:
    return build_scenario(location, render_test(location, extra))
