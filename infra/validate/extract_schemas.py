#!/usr/bin/env python3
"""One-off: extract the provider schemas infra/*.tf needs into schemas.json.

Not run by the checks: they read the committed schemas.json. Rerun it (any
Python 3.11+, network to PyPI) after bumping a provider or using a new
resource type in infra/*.tf:

    python3 infra/validate/extract_schemas.py

Source: the prebuilt CDK Terrain bindings on PyPI, which are generated from
the real provider schemas (`terraform providers schema -json`). Pinned:

    cdktn-provider-google==20.3.1       hashicorp/google     7.46.1
    cdktn-provider-cloudflare==16.4.0   cloudflare/cloudflare 5.28.0
    cdktn-provider-archive==14.0.1      hashicorp/archive    2.8.1
    cdktn-provider-random==15.0.1       hashicorp/random     3.9.1

Each wheel carries a jsii tarball whose lib/<type>/index.js has the
generated TypeScript in its source map. From it this script reads, per
attribute: the `// name - computed: C, optional: O, required: R` comment,
the getter (getStringAttribute -> string, Fn.tolist(...) -> set, ...), the
`@deprecated Write-only` marker, and from *ToHclTerraform / synthesizeHcl-
Attributes the block/attribute kind and the list/set/map/struct nesting.

What the bindings do not carry, and so schemas.json does not either:
`sensitive`, descriptions, deprecation, schema versions, and list-vs-set of
computed-only nested lists (taken as list). Blocks whose binding is a single
object (OutputReference) are max_items = 1; required blocks min_items = 1.
cloudflare 5.x (a plugin-framework provider generated from the API spec) has
nested attributes, not blocks: its nested objects become nested_type.

Only the resource / data source types named in infra/*.tf are kept (plus
each provider's configuration block), so the file stays small.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
INFRA = HERE.parent
OUT = HERE / "schemas.json"

# provider local name -> (registry address, wheel requirement, nested attrs?)
PROVIDERS = {
    "google": ("registry.terraform.io/hashicorp/google", "cdktn-provider-google==20.3.1", False),
    "cloudflare": ("registry.terraform.io/cloudflare/cloudflare", "cdktn-provider-cloudflare==16.4.0", True),
    "archive": ("registry.terraform.io/hashicorp/archive", "cdktn-provider-archive==14.0.1", False),
    "random": ("registry.terraform.io/hashicorp/random", "cdktn-provider-random==15.0.1", False),
}

ATTR_RE = re.compile(r"^  // (\w+) - computed: (true|false), optional: (true|false), required: (true|false)$", re.M)
CLASS_RE = re.compile(r"^export class (\w+) extends cdktn\.(\w+) \{$", re.M)
FUNC_RE = re.compile(r"^export function (\w+)\(", re.M)
HCL_RE = re.compile(
    r"^\s+(\w+): \{\n\s+value: .*?\n\s+isBlock: (true|false),\n\s+type: \"(\w+)\",\n\s+storageClassType: \"(\w+)\",",
    re.M,
)

PRIMITIVE = {"string": "string", "number": "number", "boolean": "bool", "any": "dynamic"}
GETTERS = {
    "getStringAttribute": "string",
    "getNumberAttribute": "number",
    "getBooleanAttribute": "bool",
    "getListAttribute": ["list", "string"],
    "getNumberListAttribute": ["list", "number"],
    "getStringMapAttribute": ["map", "string"],
    "getNumberMapAttribute": ["map", "number"],
    "getBooleanMapAttribute": ["map", "bool"],
    "getAnyMapAttribute": ["map", "dynamic"],
    "interpolationForAttribute": "dynamic",
}
CDKTN_MAPS = {
    "StringMap": ["map", "string"],
    "NumberMap": ["map", "number"],
    "BooleanMap": ["map", "bool"],
    "AnyMap": ["map", "dynamic"],
    "StringMapList": ["list", ["map", "string"]],
    "NumberMapList": ["list", ["map", "number"]],
    "BooleanMapList": ["list", ["map", "bool"]],
    "AnyMapList": ["list", ["map", "dynamic"]],
}


class Source:
    """The generated TypeScript of one resource / data source / provider."""

    def __init__(self, ts: str) -> None:
        self.ts = ts
        self.classes: dict[str, tuple[str, str]] = {}  # name -> (base, body)
        for m in CLASS_RE.finditer(ts):
            end = ts.index("\n}\n", m.end())
            self.classes[m.group(1)] = (m.group(2), ts[m.end() : end])
        self.functions: dict[str, str] = {}
        for m in FUNC_RE.finditer(ts):
            self.functions[m.group(1)] = ts[m.end() : ts.index("\n}\n", m.end())]

    def top_class(self) -> str:
        bases = ("TerraformResource", "TerraformDataSource", "TerraformProvider", "TerraformEphemeralResource")
        (name,) = [n for n, (base, _) in self.classes.items() if base in bases]
        return name

    def hcl(self, class_name: str) -> dict[str, tuple[bool, str, str]]:
        """attribute -> (isBlock, type, storageClassType) of a class's config."""
        base, body = self.classes[class_name]
        if base == "ComplexObject":
            struct = class_name.removesuffix("OutputReference")
            text = self.functions.get(struct[0].lower() + struct[1:] + "ToHclTerraform", "")
        else:
            text = body[body.index("protected synthesizeHclAttributes") :]
        return {m.group(1): (m.group(2) == "true", m.group(3), m.group(4)) for m in HCL_RE.finditer(text)}

    def element_class(self, name: str) -> tuple[str, str]:
        """ComplexList/ComplexMap/OutputReference class -> (element class, kind)."""
        if name.endswith("OutputReference"):
            return name, "single"
        for suffix, kind in (("List", "list"), ("Map", "map")):
            if name.endswith(suffix) and name.removesuffix(suffix) + "OutputReference" in self.classes:
                return name.removesuffix(suffix) + "OutputReference", kind
        raise ValueError(f"unknown complex class {name}")

    def block(self, class_name: str, nested_attrs: bool) -> dict:
        body = self.classes[class_name][1]
        hcl = self.hcl(class_name)
        attributes: dict[str, dict] = {}
        block_types: dict[str, dict] = {}
        marks = list(ATTR_RE.finditer(body))
        for i, m in enumerate(marks):
            name, computed, optional, required = m.group(1), *(m.group(k) == "true" for k in (2, 3, 4))
            if name == "alias" and self.classes[class_name][0] == "TerraformProvider":
                continue  # a meta-argument, not part of the provider schema
            chunk = body[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(body)]
            flags = {k: True for k, v in (("required", required), ("optional", optional), ("computed", computed)) if v}
            if required:  # the bindings mark required members of computed parents computed too
                flags = {"required": True}
            if "@deprecated Write-only" in chunk:
                flags["write_only"] = True
            new = re.search(r"new (?:cdktn\.)?(\w+)\(this, \"" + name + r"\"(?:, (true|false))?\)", chunk)
            if new and new.group(1) in CDKTN_MAPS:
                attributes[name] = {"type": CDKTN_MAPS[new.group(1)], **flags}
                continue
            if new:
                elem, kind = self.element_class(new.group(1))
                if kind == "list" and new.group(2) == "true":
                    kind = "set"
                info = hcl.get(name)
                if info and info[1] in ("list", "set", "map") and kind != "single":
                    kind = info[1]
                if nested_attrs:
                    nested = self.block(elem, nested_attrs)
                    attributes[name] = {
                        "nested_type": {"attributes": nested["attributes"], "nesting_mode": kind},
                        **flags,
                    }
                elif info and info[0]:
                    nesting = {"single": info[1], "list": "list", "set": "set", "map": "map"}[kind]
                    nesting = "single" if nesting == "struct" else nesting
                    bt: dict = {"nesting_mode": nesting, "block": self.block(elem, nested_attrs)}
                    if required:
                        bt["min_items"] = 1
                    if kind == "single" and nesting in ("list", "set"):
                        bt["max_items"] = 1
                    block_types[name] = bt
                else:  # computed-only nested object(s): an attribute of object type
                    obj = ["object", self.object_type(elem)]
                    attributes[name] = {"type": obj if kind == "single" else [kind, obj], **flags}
                continue
            info = hcl.get(name)
            if info and info[0]:  # a provider block: a plain struct, no OutputReference class
                bt = {"nesting_mode": info[1], "block": self.struct_block(info[2].removesuffix("List"))}
                if required:
                    bt["min_items"] = 1
                block_types[name] = bt
                continue
            if info and not info[0]:
                attributes[name] = {"type": hcl_type(info[1], info[2]), **flags}
                continue
            getter = re.search(r"this\.(\w+)\('" + name + r"'\)", chunk)
            if not getter or getter.group(1) not in GETTERS:
                raise ValueError(f"{class_name}.{name}: cannot tell its type")
            ty = GETTERS[getter.group(1)]
            if "Fn.tolist(this." + getter.group(1) in chunk:
                ty = ["set", ty[1]]
            attributes[name] = {"type": ty, **flags}
        out: dict = {}
        if attributes:
            out["attributes"] = attributes
        if block_types:
            out["block_types"] = block_types
        return out

    def struct_block(self, struct: str) -> dict:
        """Nested block of a provider configuration, from its struct interface."""
        iface = re.search(r"^export interface " + struct + r" \{\n(.*?)^\}", self.ts, re.M | re.S)
        assert iface, struct
        attributes: dict[str, dict] = {}
        block_types: dict[str, dict] = {}
        for name, (is_block, kind, storage) in self.hcl_of_struct(struct).items():
            camel = re.sub(r"_(\w)", lambda m: m.group(1).upper(), name)
            required = re.search(r"readonly " + camel + r":", iface.group(1)) is not None
            if is_block:
                bt = {"nesting_mode": kind, "block": self.struct_block(storage.removesuffix("List"))}
                if required:
                    bt["min_items"] = 1
                block_types[name] = bt
            else:
                attributes[name] = {"type": hcl_type(kind, storage), "required" if required else "optional": True}
        out: dict = {}
        if attributes:
            out["attributes"] = attributes
        if block_types:
            out["block_types"] = block_types
        return out

    def hcl_of_struct(self, struct: str) -> dict[str, tuple[bool, str, str]]:
        text = self.functions[struct[0].lower() + struct[1:] + "ToHclTerraform"]
        return {m.group(1): (m.group(2) == "true", m.group(3), m.group(4)) for m in HCL_RE.finditer(text)}

    def object_type(self, class_name: str) -> dict:
        blk = self.block(class_name, nested_attrs=False)
        types = {k: v["type"] for k, v in blk.get("attributes", {}).items()}
        for k, bt in blk.get("block_types", {}).items():
            obj = ["object", self.object_type_of_block(bt["block"])]
            types[k] = obj if bt["nesting_mode"] == "single" else [bt["nesting_mode"], obj]
        return types

    def object_type_of_block(self, blk: dict) -> dict:
        types = {k: v["type"] for k, v in blk.get("attributes", {}).items()}
        for k, bt in blk.get("block_types", {}).items():
            obj = ["object", self.object_type_of_block(bt["block"])]
            types[k] = obj if bt["nesting_mode"] == "single" else [bt["nesting_mode"], obj]
        return types


def hcl_type(kind: str, storage: str):
    if kind == "simple" and storage in PRIMITIVE:
        return PRIMITIVE[storage]
    m = re.fullmatch(r"(string|number|boolean|any)(List|Map)", storage)
    if m and kind in ("list", "set", "map"):
        return [kind, PRIMITIVE[m.group(1)]]
    raise ValueError(f"unsupported attribute storage {kind}/{storage}")


def used_types() -> dict[str, set[tuple[str, str]]]:
    """provider -> {(kind, type)} for every resource/data/ephemeral in infra/*.tf."""
    used: dict[str, set[tuple[str, str]]] = {p: set() for p in PROVIDERS}
    for tf in sorted(INFRA.glob("*.tf")):
        for kind, name in re.findall(r'^(resource|data|ephemeral) "(\w+)"', tf.read_text(), re.M):
            used[name.split("_", 1)[0]].add((kind, name))
    return used


def typescript(js: bytes) -> str:
    m = re.search(rb"sourceMappingURL=data:application/json;base64,(\S+)", js)
    assert m, "no inline source map"
    return json.loads(base64.b64decode(m.group(1)))["sourcesContent"][0]


def main() -> int:
    used = used_types()
    result: dict = {"format_version": "1.0", "provider_schemas": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for local, (address, requirement, nested_attrs) in PROVIDERS.items():
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, requirement], check=True
            )
            wheel = next(Path(tmp).glob(requirement.split("==")[0].replace("-", "_") + "-*.whl"))
            wanted = set(used[local])
            sources: dict[tuple[str, str], Source] = {}
            with zipfile.ZipFile(wheel) as zf:
                tgz = next(n for n in zf.namelist() if n.endswith(".jsii.tgz"))
                with zf.open(tgz) as fh, tarfile.open(fileobj=fh, mode="r|gz") as tar:
                    for member in tar:
                        if not re.fullmatch(r"package/lib/[\w-]+/index\.js", member.name):
                            continue
                        js = tar.extractfile(member).read()  # type: ignore[union-attr]
                        m = re.search(rb"terraformResourceType: [\"'](\w+)[\"']", js)
                        if not m:
                            continue
                        key = m.group(1).decode()
                        # A type can exist as a resource and as an ephemeral
                        # resource (random_bytes): the binding's directory says which.
                        kind = "resource"
                        if member.name.startswith("package/lib/data-"):
                            kind = "data"
                        elif member.name.startswith("package/lib/ephemeral-"):
                            kind = "ephemeral"
                        if key == local and member.name == "package/lib/provider/index.js":
                            sources["provider", "provider"] = Source(typescript(js))
                        elif (kind, key) in wanted:
                            sources[kind, key] = Source(typescript(js))
            missing = wanted - set(sources)
            if missing:
                raise SystemExit(f"{wheel.name}: no binding for {sorted(missing)}")
            provider_src = sources["provider", "provider"]
            schema: dict = {
                "provider": {
                    "version": 0,
                    "block": provider_src.block(provider_src.top_class(), nested_attrs),
                }
            }
            for kind, name in sorted(wanted):
                src = sources[kind, name]
                section = {
                    "resource": "resource_schemas",
                    "data": "data_source_schemas",
                    "ephemeral": "ephemeral_resource_schemas",
                }[kind]
                schema.setdefault(section, {})[name] = {"version": 0, "block": src.block(src.top_class(), nested_attrs)}
            result["provider_schemas"][address] = schema
            print(f"{requirement}: provider + {len(wanted)} types", file=sys.stderr)
    OUT.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(INFRA.parent)} ({OUT.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
