#!/usr/bin/env python3
"""Generates Sources/StrataStellarXDR/Generated/XDRWalker.swift from the Stellar XDR IDL.

The walker has one function per XDR type that reads a value of that type and checks it (lengths
against their maximums and the bytes left, enum values, union arms, booleans, zero padding)
without building anything: it validates a whole `LedgerCloseMeta` and finds where each part
ends, so hand-written decoders read only what they need.

    python3 scripts/xdr/generate_walker.py specs/stellar-xdr > Sources/StrataStellarXDR/Generated/XDRWalker.swift

The output is committed; CI does not run this script.
"""
import os
import re
import sys

# ---------------------------------------------------------------- lexing

TOKEN = re.compile(r"\s*(?:(0x[0-9A-Fa-f]+|-?\d+)|([A-Za-z_][A-Za-z0-9_]*)|(.))")


def tokens(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = "\n".join(line for line in text.split("\n") if not line.lstrip().startswith("%"))
    out = []
    pos = 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        if m.group(1) is not None:
            out.append(("num", int(m.group(1), 0)))
        elif m.group(2) is not None:
            out.append(("id", m.group(2)))
        elif m.group(3) is not None and not m.group(3).isspace():
            out.append(("sym", m.group(3)))
    return out


# ---------------------------------------------------------------- parsing


class Parser:
    def __init__(self, toks):
        self.t = toks
        self.i = 0

    def peek(self, k=0):
        return self.t[self.i + k] if self.i + k < len(self.t) else (None, None)

    def next(self):
        tok = self.t[self.i]
        self.i += 1
        return tok

    def expect(self, value):
        kind, v = self.next()
        if v != value:
            raise SyntaxError(f"expected {value!r}, got {v!r} at token {self.i}")

    def ident(self):
        kind, v = self.next()
        if kind != "id":
            raise SyntaxError(f"expected an identifier, got {v!r} at token {self.i}")
        return v

    def value(self):
        kind, v = self.next()
        if kind == "num":
            return ("num", v)
        if kind == "id":
            return ("name", v)
        raise SyntaxError(f"expected a value, got {v!r}")

    def definitions(self, defs, consts):
        while self.i < len(self.t):
            kind, v = self.peek()
            if v == "namespace":
                self.next()
                self.ident()
                self.expect("{")
                self.definitions(defs, consts)
                self.expect("}")
                continue
            if v == "}":
                return
            if v == "typedef":
                self.next()
                name, ty = self.declaration()
                self.expect(";")
                defs.append((name, ty))
            elif v == "enum":
                self.next()
                name = self.ident()
                defs.append((name, self.enum_body()))
                self.expect(";")
            elif v == "struct":
                self.next()
                name = self.ident()
                defs.append((name, self.struct_body()))
                self.expect(";")
            elif v == "union":
                self.next()
                name = self.ident()
                defs.append((name, self.union_body()))
                self.expect(";")
            elif v == "const":
                self.next()
                name = self.ident()
                self.expect("=")
                consts[name] = self.value()
                self.expect(";")
            else:
                raise SyntaxError(f"unexpected {v!r} at token {self.i}")

    def type_spec(self):
        kind, v = self.next()
        if v == "unsigned":
            _, w = self.peek()
            if w in ("int", "hyper"):
                self.next()
                return ("prim", "uint" if w == "int" else "uhyper")
            return ("prim", "uint")
        if v in ("int", "hyper", "bool"):
            return ("prim", v)
        if v in ("float", "double", "quadruple"):
            raise SyntaxError(f"{v} is not supported")
        if v == "enum":
            return self.enum_body()
        if v == "struct":
            return self.struct_body()
        if v == "union":
            return self.union_body()
        if kind == "id":
            return ("ref", v)
        raise SyntaxError(f"expected a type, got {v!r}")

    def declaration(self):
        """Returns (name, type); type None for void."""
        _, v = self.peek()
        if v == "void":
            self.next()
            return (None, None)
        if v in ("opaque", "string"):
            self.next()
            name = self.ident()
            _, s = self.next()
            if s == "[":
                n = self.value()
                self.expect("]")
                return (name, ("opaque_fixed", n))
            if s == "<":
                if self.peek()[1] == ">":
                    self.next()
                    return (name, ("opaque_var" if v == "opaque" else "string", None))
                n = self.value()
                self.expect(">")
                return (name, ("opaque_var" if v == "opaque" else "string", n))
            raise SyntaxError(f"{v} {name} needs [n] or <n>")
        ty = self.type_spec()
        if self.peek()[1] == "*":
            self.next()
            return (self.ident(), ("optional", ty))
        name = self.ident()
        _, s = self.peek()
        if s == "[":
            self.next()
            n = self.value()
            self.expect("]")
            return (name, ("array_fixed", ty, n))
        if s == "<":
            self.next()
            if self.peek()[1] == ">":
                self.next()
                return (name, ("array_var", ty, None))
            n = self.value()
            self.expect(">")
            return (name, ("array_var", ty, n))
        return (name, ty)

    def enum_body(self):
        self.expect("{")
        members = []
        while True:
            name = self.ident()
            self.expect("=")
            members.append((name, self.value()))
            _, s = self.next()
            if s == "}":
                return ("enum", members)
            if s != ",":
                raise SyntaxError(f"expected , or }} in enum, got {s!r}")

    def struct_body(self):
        self.expect("{")
        fields = []
        while self.peek()[1] != "}":
            name, ty = self.declaration()
            self.expect(";")
            fields.append((name, ty))
        self.expect("}")
        return ("struct", fields)

    def union_body(self):
        self.expect("switch")
        self.expect("(")
        disc_type = self.type_spec()
        disc_name = self.ident()
        self.expect(")")
        self.expect("{")
        arms = []
        default = "absent"
        while self.peek()[1] != "}":
            _, v = self.peek()
            if v == "default":
                self.next()
                self.expect(":")
                _, ty = self.declaration()
                self.expect(";")
                default = ty
                continue
            values = []
            while self.peek()[1] == "case":
                self.next()
                values.append(self.value())
                self.expect(":")
            _, ty = self.declaration()
            self.expect(";")
            arms.append((values, ty))
        self.expect("}")
        return ("union", disc_type, disc_name, arms, default)


# ---------------------------------------------------------------- generation


class Generator:
    def __init__(self, defs, consts):
        self.defs = dict(defs)
        self.order = [n for n, _ in defs]
        self.consts = consts
        self.enum_values = {}
        for name, ty in defs:
            self.collect_enums(ty)
        self.recursive = self.find_recursive()

    def collect_enums(self, ty):
        if ty is None:
            return
        if ty[0] == "enum":
            for member, value in ty[1]:
                self.enum_values[member] = value
        elif ty[0] == "struct":
            for _, f in ty[1]:
                self.collect_enums(f)
        elif ty[0] == "union":
            self.collect_enums(ty[1])
            for _, a in ty[3]:
                self.collect_enums(a)
            if ty[4] not in (None, "absent"):
                self.collect_enums(ty[4])
        elif ty[0] in ("array_fixed", "array_var", "optional"):
            self.collect_enums(ty[1])

    def resolve(self, v, seen=()):
        kind, x = v
        if kind == "num":
            return x
        if x in self.enum_values:
            return self.resolve(self.enum_values[x])
        if x in self.consts:
            return self.resolve(self.consts[x])
        raise KeyError(f"unknown constant {x}")

    def refs(self, ty, out):
        if ty is None:
            return
        k = ty[0]
        if k == "ref":
            out.add(ty[1])
        elif k == "struct":
            for _, f in ty[1]:
                self.refs(f, out)
        elif k == "union":
            for _, a in ty[3]:
                self.refs(a, out)
            if ty[4] not in (None, "absent"):
                self.refs(ty[4], out)
        elif k in ("array_fixed", "array_var", "optional"):
            self.refs(ty[1], out)

    def find_recursive(self):
        graph = {}
        for name, ty in self.defs.items():
            out = set()
            self.refs(ty, out)
            graph[name] = out
        recursive = set()
        for start in graph:
            stack = list(graph[start])
            seen = set()
            while stack:
                n = stack.pop()
                if n == start:
                    recursive.add(start)
                    break
                if n in seen or n not in graph:
                    continue
                seen.add(n)
                stack.extend(graph[n])
        return recursive

    def min_size(self, ty, seen=()):
        if ty is None:
            return 0
        k = ty[0]
        if k == "prim":
            return 8 if ty[1] in ("hyper", "uhyper") else 4
        if k == "enum":
            return 4
        if k == "ref":
            if ty[1] in seen:
                return 4
            return self.min_size(self.defs[ty[1]], seen + (ty[1],))
        if k == "opaque_fixed":
            n = self.resolve(ty[1])
            return (n + 3) // 4 * 4
        if k in ("opaque_var", "string", "array_var", "optional"):
            return 4
        if k == "array_fixed":
            return self.resolve(ty[2]) * self.min_size(ty[1], seen)
        if k == "struct":
            return sum(self.min_size(f, seen) for _, f in ty[1])
        if k == "union":
            return 4
        raise ValueError(k)

    def disc_kind(self, ty):
        """'signed', 'unsigned', 'bool' or ('enum', values) for a discriminant type."""
        while ty[0] == "ref":
            ty = self.defs[ty[1]]
        if ty[0] == "prim":
            return {"int": "signed", "uint": "unsigned", "bool": "bool"}[ty[1]]
        if ty[0] == "enum":
            return ("enum", sorted({self.resolve(v) for _, v in ty[1]}))
        raise ValueError(f"unsupported discriminant {ty}")

    def code(self, ty, label, indent):
        """Swift statements that walk one value of `ty`; `label` names it in errors."""
        p = "    " * indent
        q = '"' + label + '"'
        if ty is None:
            return []
        k = ty[0]
        if k == "prim":
            if ty[1] in ("int", "uint"):
                return [f"{p}try r.skip(4, {q})"]
            if ty[1] in ("hyper", "uhyper"):
                return [f"{p}try r.skip(8, {q})"]
            return [f"{p}_ = try r.readBool({q})"]
        if k == "ref":
            return [f"{p}try walk{ty[1]}(&r)"]
        if k == "opaque_fixed":
            return [f"{p}try r.skip({self.resolve(ty[1])}, {q})"]
        if k in ("opaque_var", "string"):
            m = "Int(UInt32.max)" if ty[1] is None else str(self.resolve(ty[1]))
            return [f"{p}try r.skip(try r.readLength(maximum: {m}, elementSize: 1, {q}), {q})"]
        if k == "optional":
            return [f"{p}if try r.readBool({q}) {{"] + self.code(ty[1], label, indent + 1) + [f"{p}}}"]
        if k == "array_fixed":
            n = self.resolve(ty[2])
            return [f"{p}for _ in 0..<{n} {{"] + self.code(ty[1], label, indent + 1) + [f"{p}}}"]
        if k == "array_var":
            m = "Int(UInt32.max)" if ty[2] is None else str(self.resolve(ty[2]))
            size = max(1, self.min_size(ty[1]))
            return [f"{p}for _ in 0..<(try r.readLength(maximum: {m}, elementSize: {size}, {q})) {{"] + self.code(ty[1], label, indent + 1) + [f"{p}}}"]
        if k == "enum":
            values = sorted({self.resolve(v) for _, v in ty[1]})
            return [f"{p}try r.enumValue({q}, in: {self.swift_set(values)})"]
        if k == "struct":
            lines = []
            for fname, fty in ty[1]:
                lines += self.code(fty, f"{label}.{fname}", indent)
            return lines
        if k == "union":
            _, disc_type, disc_name, arms, default = ty
            kind = self.disc_kind(disc_type)
            lines = []
            if kind == "signed" or isinstance(kind, tuple):
                lines.append(f"{p}let start = r.offset")
                lines.append(f"{p}let arm = Int64(try r.readInt32({q}))")
            elif kind == "unsigned":
                lines.append(f"{p}let start = r.offset")
                lines.append(f"{p}let arm = Int64(try r.readUInt32({q}))")
            else:
                lines.append(f"{p}let start = r.offset")
                lines.append(f"{p}let arm: Int64 = try r.readBool({q}) ? 1 : 0")
            if isinstance(kind, tuple) and default != "absent":
                lines.append(f"{p}guard {self.swift_set(kind[1])}.contains(arm) else {{")
                lines.append(f"{p}    throw r.error({q}, \"unknown enum value \\(arm) of the discriminant\", at: start)")
                lines.append(f"{p}}}")
            lines.append(f"{p}switch arm {{")
            for values, aty in arms:
                vs = ", ".join(str(self.resolve(v)) for v in values)
                body = self.code(aty, label, indent + 1)
                lines.append(f"{p}case {vs}:")
                lines += body or [f"{p}    break"]
            if default == "absent":
                lines.append(f"{p}default:")
                lines.append(f"{p}    throw r.error({q}, \"unknown union arm \\(arm)\", at: start)")
            else:
                body = self.code(default, label, indent + 1)
                lines.append(f"{p}default:")
                lines += body or [f"{p}    break"]
            lines.append(f"{p}}}")
            # Scope the discriminant's names: unions nest inside structs and other unions.
            return [f"{p}do {{"] + ["    " + l for l in lines] + [f"{p}}}"]
        raise ValueError(k)

    @staticmethod
    def swift_set(values):
        if len(values) > 1 and values == list(range(values[0], values[-1] + 1)):
            return f"Int64({values[0]})...{values[-1]}"
        return "[" + ", ".join(str(v) for v in values) + "] as Set<Int64>"

    def generate(self):
        out = [
            "// Generated by scripts/xdr/generate_walker.py from specs/stellar-xdr/*.x: do not edit.",
            "// swift-format-ignore-file",
            "",
            "/// One function per XDR type of the Stellar protocol: each reads a value of its type and",
            "/// checks it (lengths against maximums and the bytes left, enum values, union arms, booleans,",
            "/// zero padding) without building it. Errors name the type (and field) and the byte offset.",
            "public enum XDRWalker {",
        ]
        for name in self.order:
            ty = self.defs[name]
            body = self.code(ty, name, 2)
            out.append(f"    /// Walks one `{name}`.")
            out.append(f"    public static func walk{name}(_ r: inout XDRReader) throws {{")
            if name in self.recursive:
                out.append(f"        try r.nested(\"{name}\") {{ r in")
                out += ["    " + l for l in body]
                out.append("        }")
            else:
                out += body
            out.append("    }")
            out.append("")
        out[-1] = "}"
        return "\n".join(out) + "\n"


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "specs/stellar-xdr"
    defs = []
    consts = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".x"):
            with open(os.path.join(folder, name)) as f:
                Parser(tokens(f.read())).definitions(defs, consts)
    sys.stdout.write(Generator(defs, consts).generate())


if __name__ == "__main__":
    main()
