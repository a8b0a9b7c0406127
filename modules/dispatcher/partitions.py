"""The partitions of the dispatcher: the `default` one from the plain parameters, more from
`partition` ("name: db_url = ...; table_name = ...; attrs_avp = $avp(x)"); `"default: other"`
makes another partition the default. Unset properties inherit from the default partition."""

from __future__ import annotations

from typing import Any

from pysips.script.errors import FixupError

from .runtime import PartitionConfig

_AVPS = ("dst_avp", "grp_avp", "cnt_avp", "sock_avp", "attrs_avp", "script_attrs_avp")
_KEYS = {
    "db_url",
    "table_name",
    "ping_from",
    "ping_method",
    "persistent_state",
    "ds_define_blacklist",
    "script_attrs",
    *_AVPS,
}


def avp_name(spec: str | None) -> str | None:
    """'$avp(name)' -> 'name' (the key of ctx.avps)."""
    if not spec:
        return None
    text = spec.strip()
    if text.startswith("$avp(") and text.endswith(")"):
        return text[5:-1].strip()
    raise FixupError(f"dispatcher: {spec!r} is not an AVP")


def parse_partition(text: str) -> tuple[str, dict[str, str]]:
    name, sep, body = text.partition(":")
    if not sep or not name.strip():
        raise FixupError(f"dispatcher partition: no name in {text!r}")
    props: dict[str, str] = {}
    body = body.strip()
    if body and "=" not in body:
        return name.strip(), {"alias_of": body}
    for item in body.split(";"):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in _KEYS:
            raise FixupError(f"dispatcher partition {name.strip()}: unknown property {key!r}")
        if key == "ds_define_blacklist":
            raise FixupError("dispatcher: ds_define_blacklist is not supported by pysips yet")
        props["script_attrs_avp" if key == "script_attrs" else key] = value.strip()
    return name.strip(), props


def partition_configs(params: dict[str, Any], db_default_url: str | None) -> list[PartitionConfig]:
    defaults: dict[str, str] = {}
    for key in ("db_url", "table_name", "ds_ping_from", "ds_ping_method", *_AVPS):
        if params.get(key):
            defaults[key.removeprefix("ds_")] = str(params[key])
    declared: dict[str, dict[str, str]] = {}
    for text in params.get("partition") or []:
        name, props = parse_partition(str(text))
        declared[name] = props
    alias = (
        declared.pop("default", {}).get("alias_of")
        if "default" in declared and "alias_of" in declared["default"]
        else None
    )
    if "default" in declared:
        defaults = {**defaults, **declared.pop("default")}
    configs: list[PartitionConfig] = []
    default_url = defaults.get("db_url") or db_default_url
    if alias is None and (default_url or not declared):
        if not default_url:
            raise FixupError("dispatcher: no db_url for the default partition")
        configs.append(_config("default", defaults, {}, default_url, params))
    for name, props in declared.items():
        url = props.get("db_url") or default_url
        if not url:
            raise FixupError(f"dispatcher partition {name}: no db_url")
        config = _config(name, defaults, props, url, params)
        if name == alias:
            config.name = "default"
        configs.append(config)
    return configs


def _config(
    name: str, defaults: dict[str, str], props: dict[str, str], url: str, params: dict[str, Any]
) -> PartitionConfig:
    def pick(key: str) -> str | None:
        return props.get(key) or defaults.get(key)

    suffix = "" if name == "default" else f"_{name}"
    persistent = props.get("persistent_state")
    return PartitionConfig(
        name=name,
        db_url=url,
        table_name=pick("table_name") or "dispatcher",
        dst_avp=avp_name(pick("dst_avp")) or f"ds_dst_failover{suffix}",
        grp_avp=avp_name(pick("grp_avp")) or f"ds_grp_failover{suffix}",
        cnt_avp=avp_name(pick("cnt_avp")) or f"ds_cnt_failover{suffix}",
        sock_avp=avp_name(pick("sock_avp")) or f"ds_sock_failover{suffix}",
        attrs_avp=avp_name(pick("attrs_avp")),
        script_attrs_avp=avp_name(pick("script_attrs_avp")),
        ping_from=props.get("ping_from"),
        ping_method=props.get("ping_method"),
        persistent_state=bool(int(persistent)) if persistent else bool(params.get("persistent_state", 1)),
    )
