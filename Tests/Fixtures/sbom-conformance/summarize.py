#!/usr/bin/env python3
"""Writes expected.json for the SBOM conformance set, independently of Strata.

For every document under spdx/ and cyclonedx/ it records whether the document is valid and, when
it is, its format, its number of packages (SPDX packages; CycloneDX components including
metadata.component and nested ones) and its number of distinct package-to-package dependency
relationships. Validity is judged by the Python `jsonschema` package (the reference validator)
against the official schemas in schemas/external, plus, for SPDX, the specification's rule that
every element a relationship names is defined in the document (or is NONE, NOASSERTION or a
DocumentRef-). For an invalid document, `reasons` lists the JSON pointers (or tag-value lines) of
the problems; Strata's error must name one of them.

Run from the repository root: python3 Tests/Fixtures/sbom-conformance/summarize.py
"""
import json
import os
import re
import sys

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

ROOT = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(ROOT, "..", "..", "..", "schemas", "external")

DEPENDS_ON = {"DEPENDS_ON"}
DEPENDENCY_OF = {"DEPENDENCY_OF", "BUILD_DEPENDENCY_OF", "DEV_DEPENDENCY_OF", "OPTIONAL_DEPENDENCY_OF",
                 "PROVIDED_DEPENDENCY_OF", "TEST_DEPENDENCY_OF", "RUNTIME_DEPENDENCY_OF"}


def load_schemas():
    resources = []
    by_name = {}
    for sub in ("spdx", "cyclonedx"):
        folder = os.path.join(SCHEMAS, sub)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".json"):
                with open(os.path.join(folder, name)) as f:
                    schema = json.load(f)
                by_name[name] = schema
                resources.append((schema["$id"], Resource.from_contents(schema, default_specification=DRAFT7)))
    return by_name, Registry().with_resources(resources)


SCHEMA_FILES, REGISTRY = load_schemas()


def pointer(path):
    return "/" + "/".join(str(p) for p in path) if path else "/"


def schema_errors(doc, schema_name):
    schema = SCHEMA_FILES[schema_name]
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, registry=REGISTRY, format_checker=cls.FORMAT_CHECKER)
    return sorted({pointer(e.absolute_path) for e in validator.iter_errors(doc)})


def decode(raw):
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    if raw.startswith(b"\xff\xfe") or raw.startswith(b"\xfe\xff"):
        return raw.decode("utf-16")
    return raw.decode("utf-8")


def tag_value_to_json(text):
    """A minimal tag-value reader: the fields the graph needs, in the JSON form's shape."""
    doc, packages, files, snippets, relationships = {}, [], [], [], []
    section = "document"
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#") or ":" not in line:
            continue
        tag, value = line.split(":", 1)
        tag, value = tag.strip(), value.strip()
        if value.startswith("<text>"):
            while "</text>" not in value and i < len(lines):
                value += "\n" + lines[i]
                i += 1
        if tag == "SPDXVersion":
            doc["spdxVersion"] = value
        elif tag == "DocumentName":
            doc["name"] = value
        elif tag == "PackageName":
            section = "package"
            packages.append({"name": value})
        elif tag == "FileName":
            section = "file"
            files.append({"fileName": value})
        elif tag == "SnippetSPDXID":
            section = "snippet"
            snippets.append({"SPDXID": value})
        elif tag in ("LicenseID", "Annotator", "Reviewer"):
            section = "other"
        elif tag == "SPDXID":
            if section == "document" and "SPDXID" not in doc:
                doc["SPDXID"] = value
            elif section == "package":
                packages[-1]["SPDXID"] = value
            elif section == "file":
                files[-1]["SPDXID"] = value
        elif tag == "Relationship":
            a, t, b = value.split()
            relationships.append({"spdxElementId": a, "relationshipType": t, "relatedSpdxElement": b})
    doc.update(packages=packages, files=files, snippets=snippets, relationships=relationships)
    return doc


def spdx_summary(doc):
    packages = {p.get("SPDXID") for p in doc.get("packages", [])}
    defined = {"SPDXRef-DOCUMENT"} | packages | {f.get("SPDXID") for f in doc.get("files", [])} | \
              {s.get("SPDXID") for s in doc.get("snippets", [])}
    reasons, deps = [], set()
    for i, r in enumerate(doc.get("relationships", [])):
        a, t, b = r.get("spdxElementId"), r.get("relationshipType"), r.get("relatedSpdxElement")
        for field, ref in (("spdxElementId", a), ("relatedSpdxElement", b)):
            if ref not in defined and ref not in ("NONE", "NOASSERTION") and not str(ref).startswith("DocumentRef-"):
                reasons.append(f"/relationships/{i}/{field}")
        if a in packages and b in packages:
            if t in DEPENDS_ON:
                deps.add((a, b))
            if t in DEPENDENCY_OF:
                deps.add((b, a))
    return len(doc.get("packages", [])), len(deps), reasons


def cyclonedx_summary(doc):
    count = 0

    def walk(components):
        nonlocal count
        for c in components or []:
            count += 1
            walk(c.get("components"))
    if isinstance(doc.get("metadata", {}).get("component"), dict):
        walk([doc["metadata"]["component"]])
    walk(doc.get("components"))
    deps = {(d["ref"], t) for d in doc.get("dependencies", []) or [] if "ref" in d for t in d.get("dependsOn", []) or []}
    return count, len(deps)


CYCLONEDX = {"1.2": "bom-1.2.schema.json", "1.3": "bom-1.3.schema.json", "1.4": "bom-1.4.schema.json",
             "1.5": "bom-1.5.schema.json", "1.6": "bom-1.6.schema.json"}
SPDX = {"SPDX-2.2": "spdx-2.2.schema.json", "SPDX-2.3": "spdx-2.3.schema.json"}


def summarize(path):
    raw = open(path, "rb").read()
    text = decode(raw)
    if text.lstrip().startswith("SPDXVersion:") or re.match(r"\s*(#.*\n\s*)*SPDXVersion:", text):
        doc = tag_value_to_json(text)
        version = doc.get("spdxVersion")
        if version not in SPDX:
            return {"valid": False, "reasons": ["SPDXVersion"]}
        packages, deps, reasons = spdx_summary(doc)
        if reasons:
            return {"valid": False, "reasons": ["line"]}
        return {"valid": True, "format": version.lower() + "-tag-value", "packages": packages, "dependencies": deps}
    doc = json.loads(text)
    if isinstance(doc, dict) and isinstance(doc.get("sbom"), dict):
        doc = doc["sbom"]
    if "spdxVersion" in doc:
        version = doc["spdxVersion"]
        if version not in SPDX:
            return {"valid": False, "reasons": ["/spdxVersion"]}
        errors = schema_errors(doc, SPDX[version])
        packages, deps, reasons = spdx_summary(doc)
        if errors or reasons:
            return {"valid": False, "reasons": errors + reasons}
        return {"valid": True, "format": version.lower(), "packages": packages, "dependencies": deps}
    version = doc.get("specVersion")
    if version not in CYCLONEDX:
        return {"valid": False, "reasons": ["/specVersion"]}
    errors = schema_errors(doc, CYCLONEDX[version])
    if errors:
        return {"valid": False, "reasons": errors}
    packages, deps = cyclonedx_summary(doc)
    return {"valid": True, "format": "cyclonedx-" + version, "packages": packages, "dependencies": deps}


def main():
    result = {}
    for sub in ("spdx", "cyclonedx"):
        folder = os.path.join(ROOT, sub)
        for name in sorted(os.listdir(folder)):
            result[f"{sub}/{name}"] = summarize(os.path.join(folder, name))
    with open(os.path.join(ROOT, "expected.json"), "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write("\n")
    valid = sum(1 for v in result.values() if v["valid"])
    print(f"{len(result)} documents, {valid} valid", file=sys.stderr)


if __name__ == "__main__":
    main()
