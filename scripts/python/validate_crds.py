"""Validates custom resources against the CRDs that define them.

usage: validate_crds.py CRD_DIR RENDERED.yaml

Every document of RENDERED whose apiVersion/kind a CRD under CRD_DIR
defines is checked against that version's openAPIV3Schema, strictly: an
object with declared properties accepts no others (unless the schema says
x-kubernetes-preserve-unknown-fields), as the API server would prune them
silently. A resource of a group that a CRD defines but in a version it does
not serve (kafka.strimzi.io/v1beta2 on Strimzi 1.x) fails. Resources of
other groups (the core kinds) are left to kubernetes-validate.
"""

import copy
import pathlib
import sys

import jsonschema
import yaml


def strict(schema):
    """The schema with additionalProperties: false wherever Kubernetes would prune."""
    s = copy.deepcopy(schema)

    def walk(node):
        if not isinstance(node, dict):
            return
        if (
            node.get("type") == "object"
            and "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for key in ("properties", "patternProperties"):
            for child in node.get(key, {}).values():
                walk(child)
        for key in ("items", "additionalProperties", "not"):
            walk(node.get(key))
        for key in ("allOf", "anyOf", "oneOf"):
            for child in node.get(key, []):
                walk(child)

    walk(s)
    return s


def load_crds(folder):
    schemas, groups = {}, {}
    for path in sorted(pathlib.Path(folder).rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            kind = spec["names"]["kind"]
            for v in spec["versions"]:
                if not v.get("served", True):
                    continue
                api = f"{spec['group']}/{v['name']}"
                schema = v["schema"]["openAPIV3Schema"]
                # metadata is the API server's, not the CRD's, to check.
                schema.get("properties", {}).pop("metadata", None)
                schemas[(api, kind)] = (strict(schema), path.name)
                groups.setdefault(spec["group"], set()).add(api)
    return schemas, groups


def main():
    crd_dir, rendered = sys.argv[1], sys.argv[2]
    schemas, groups = load_crds(crd_dir)
    checked, failures = 0, []
    for doc in yaml.safe_load_all(pathlib.Path(rendered).read_text()):
        if not doc:
            continue
        api, kind = doc.get("apiVersion", ""), doc.get("kind", "")
        name = f"{kind}/{doc.get('metadata', {}).get('name', '?')} ({api})"
        group = api.split("/")[0] if "/" in api else ""
        if (api, kind) not in schemas:
            if group in groups:
                failures.append(f"{name}: no CRD here serves {api} {kind}; served: {sorted(groups[group])}")
            continue
        schema, source = schemas[(api, kind)]
        body = {k: v for k, v in doc.items() if k != "metadata"}
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(body), key=lambda e: list(e.path))
        for e in errors:
            where = "/".join(str(p) for p in e.path) or "(root)"
            failures.append(f"{name}: {where}: {e.message} (schema {source})")
        checked += 1
    for f in failures:
        print(f"invalid: {f}", file=sys.stderr)
    if failures:
        sys.exit(1)
    if checked == 0:
        print("no custom resource was checked", file=sys.stderr)
        sys.exit(1)
    print(f"custom resources: {checked} valid against their CRDs")


if __name__ == "__main__":
    main()
