#!/usr/bin/env python3
"""Generates the typed Stripe model (protos/stripe/v1) from Stripe's schema facts.

Inputs (read-only):
  <stripe_dir>/resources.json                      top-level fields of 15 resources, 2023 + 2026
  <stripe_dir>/resource_subschemas_2023-08-16.json nested schemas reachable from them (2023 spec)
  <stripe_dir>/event_types.json                    v1 event type -> object kind
  tools/stripe_protos/extra_schemas.json           fields of newer API versions (basil) that the
                                                   2023 schemas lack; written by hand, committed
Outputs (committed; the build never needs <stripe_dir>):
  protos/stripe/v1/resources.proto       every message of package stripe.v1
  protos/stripe/v1/event_types_data.inc  the event type table and kind -> message rows
  protos/stripe/v1/field_numbers.json    the field-number registry (read, then extended)

Usage (from the workspace root):
  python3 tools/stripe_protos/gen_stripe_protos.py ../shared/stripe
  python3 tools/stripe_protos/gen_stripe_protos.py ../shared/stripe --check   # exit 1 if stale
  python3 tools/stripe_protos/gen_stripe_protos.py ../shared/stripe --examples tests/testdata/events
      # also lists keys of the example events that the model does not know

Field numbers are stable: a field keeps the number the registry gives it; a new field gets the
next number of its message; a field that disappears from the inputs is emitted as `reserved`
(number and name) and its number is never reused. The mapping rules are in docs/MAPPING.md.
"""

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT_DIR = os.path.join(ROOT, "protos", "stripe", "v1")
PROTO_PATH = os.path.join(OUT_DIR, "resources.proto")
TABLE_PATH = os.path.join(OUT_DIR, "event_types_data.inc")
REGISTRY_PATH = os.path.join(OUT_DIR, "field_numbers.json")
EXTRAS_PATH = os.path.join(HERE, "extra_schemas.json")

PACKAGE = "stripe.v1"
STRUCT = "google.protobuf.Struct"

# Polymorphic sets of resource kinds get one shared wrapper message each. A field whose kinds are
# a subset of a named set uses the smallest such set (Stripe's own names for them).
NAMED_VARIANTS = [
    ("ExternalAccount", ["bank_account", "card"]),
    ("PaymentSource", ["account", "bank_account", "card", "source"]),
]

# Protobuf reserves these field numbers.
RESERVED_RANGE = range(19000, 20000)

IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


def die(message):
    sys.stderr.write("gen_stripe_protos: " + message + "\n")
    sys.exit(2)


def pascal(name):
    """`checkout.session` -> `CheckoutSession`, `payment_method_card` -> `PaymentMethodCard`."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[._]", name) if part)


def kind_arm(kind):
    """The oneof arm name for an object kind: `issuing.authorization` -> `issuing_authorization`."""
    return kind.replace(".", "_")


def lower_camel(name):
    parts = name.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


# ---------------------------------------------------------------------------------------------
# The model: schemas (JSON objects with properties) -> messages.


class Field:
    """One protobuf field (or oneof arm)."""

    def __init__(self, name, type_, label="", comment="", json_key=None):
        self.name = name
        self.type = type_
        self.label = label  # "", "optional", "repeated" (maps are spelled in type_)
        self.comment = comment
        self.json_key = json_key if json_key is not None else name


class Oneof:
    """An expandable reference: `oneof <key> { string <key>_id; Msg <key>_object; }`."""

    def __init__(self, name, arms, comment=""):
        self.name = name
        self.arms = arms  # [Field]
        self.comment = comment


class Message:
    def __init__(self, name, comment, origin):
        self.name = name
        self.comment = comment
        self.origin = origin  # schema name, or a description for synthetic messages
        self.members = []  # Field | Oneof, in JSON key order
        self.variant = False  # a wrapper whose only member is `oneof value`

    def field_names(self):
        names = []
        for m in self.members:
            if isinstance(m, Oneof):
                names.extend(a.name for a in m.arms)
            else:
                names.append(m.name)
        return names


class Model:
    def __init__(self, resources, subschemas, extras):
        self.resources = resources  # name -> resources.json entry
        self.schemas = {}  # schema name -> {"properties": {...}, "top": bool, "source": str}
        for name, schema in subschemas.items():
            self.schemas[name] = {
                "properties": dict(schema["properties"]),
                "top": schema.get("top_level_resource", False),
                "source": "2023-08-16 spec",
            }
        for name, resource in resources.items():
            self.schemas[name] = {
                "properties": dict(resource["properties"]),
                "top": True,
                "source": "resources.json (2023-08-16 spec and 2026 SDK)",
            }
        for name, schema in extras.get("schemas", {}).items():
            if name in self.schemas:
                die("extra schema %s already exists" % name)
            self.schemas[name] = {
                "properties": dict(schema["properties"]),
                "top": schema.get("top_level_resource", False),
                "source": "extra_schemas.json",
                "comment": schema.get("comment", ""),
            }
        for name, props in extras.get("add_properties", {}).items():
            if name not in self.schemas:
                die("add_properties: unknown schema %s" % name)
            for key, prop in props.items():
                if key in self.schemas[name]["properties"]:
                    die("add_properties: %s.%s already exists" % (name, key))
                prop = dict(prop)
                prop.setdefault("extra", True)
                self.schemas[name]["properties"][key] = prop
        self.sdk_types = extras.get("sdk_types", {})
        for sdk_type, schema in self.sdk_types.items():
            if schema not in self.schemas:
                die("sdk_types: %s maps to unknown schema %s" % (sdk_type, schema))

        # Kinds whose expanded form may be a `deleted_<kind>` stub ({id, object, deleted: true}).
        self.deletable = set()
        for schema in self.schemas.values():
            for prop in schema["properties"].values():
                for p in (prop, prop.get("items", {}), prop.get("list_items", {})):
                    for target in p.get("expands_to", []):
                        if target.startswith("deleted_"):
                            self.deletable.add(target[len("deleted_"):])

        self.messages = {}  # message name -> Message
        self.message_of_schema = {}  # schema name -> message name
        self.pending = []

    # -- naming ---------------------------------------------------------------------------------

    def message_name(self, schema):
        if schema in self.message_of_schema:
            return self.message_of_schema[schema]
        name = pascal(schema)
        for other, msg_name in self.message_of_schema.items():
            if msg_name == name and other != schema:
                die("message name %s used by schemas %s and %s" % (name, other, schema))
        self.message_of_schema[schema] = name
        self.pending.append(schema)
        return name

    def typed_kind(self, kind):
        """True when an object kind has a schema of its own (a top-level resource)."""
        return kind in self.schemas and self.schemas[kind]["top"]

    # -- synthetic messages ---------------------------------------------------------------------

    def add_synthetic(self, message):
        existing = self.messages.get(message.name)
        if existing is not None:
            if existing.origin != message.origin:
                die("synthetic message %s defined twice differently" % message.name)
            return message.name
        self.messages[message.name] = message
        return message.name

    def variant_message(self, kinds, context):
        """A wrapper `oneof value { Msg <kind> = n; ... }` chosen by the JSON `object` value."""
        kinds = sorted(set(k[len("deleted_"):] if k.startswith("deleted_") else k for k in kinds))
        name = None
        for named, members in NAMED_VARIANTS:
            if set(kinds) <= set(members):
                name, kinds = named, sorted(members)
                break
        if name is None:
            name = pascal(context)
        msg = Message(
            name,
            "One of several Stripe resources, chosen by the JSON object's `object` value (the arm "
            "named after it, `.` as `_`). Kinds without a message of their own are kept as a "
            "Struct.",
            "variant:" + ",".join(kinds),
        )
        msg.variant = True
        arms = []
        for kind in kinds:
            type_ = self.message_name(kind) if self.typed_kind(kind) else STRUCT
            arms.append(Field(kind_arm(kind), type_, comment="`object: \"%s\"`" % kind))
        msg.members.append(Oneof("value", arms))
        return self.add_synthetic(msg)

    def ref_message(self, expands_to, context):
        """An element of an array of expandable references: `oneof value { id; object }`."""
        target = self.ref_target(expands_to, context)
        name = (target if target != STRUCT else pascal(context)) + "Ref"
        msg = Message(
            name,
            "An expandable reference inside a list: the id string, or the expanded object.",
            "ref:" + target,
        )
        msg.variant = True
        msg.members.append(
            Oneof("value", [Field("id", "string", comment="The id (not expanded)."),
                            Field("object", target, comment="The expanded object.")]))
        return self.add_synthetic(msg)

    def list_message(self, item_type, item_label):
        base = item_type.split(".")[-1] if item_type != STRUCT else "Object"
        name = base + "List"
        msg = Message(name, "A Stripe list object (`object: \"list\"`) of %s." % item_label,
                      "list:" + item_type)
        msg.members = [
            Field("object", "string", "optional", comment="\"list\""),
            Field("data", item_type, "repeated"),
            Field("has_more", "bool", "optional"),
            Field("total_count", "int64", "optional"),
            Field("url", "string", "optional"),
        ]
        return self.add_synthetic(msg)

    def ref_target(self, expands_to, context):
        kinds = sorted(set(k[len("deleted_"):] if k.startswith("deleted_") else k
                           for k in expands_to))
        if len(kinds) == 1:
            return self.message_name(kinds[0]) if self.typed_kind(kinds[0]) else STRUCT
        return self.variant_message(kinds, context)

    # -- properties -> members ------------------------------------------------------------------

    def object_type(self, prop, context):
        if "schema_ref" in prop:
            ref = prop["schema_ref"]
            if ref not in self.schemas:
                die("%s: unknown schema %s" % (context, ref))
            return self.message_name(ref)
        if "sdk_type" in prop:
            schema = self.sdk_types.get(prop["sdk_type"])
            return self.message_name(schema) if schema else STRUCT
        if prop["kind"] == "inline_object":
            return STRUCT
        die("%s: object without a schema" % context)

    def polymorphic_type(self, prop, context):
        one_of = prop["one_of"]
        if all(self.typed_kind(k) or k in ("account", "bank_account", "card", "source")
               for k in one_of):
            return self.variant_message(one_of, context)
        # `*_client` variants (payment method options as a publishable key sees them) never reach
        # webhooks: the full schema is the type.
        full = [k for k in one_of if not k.endswith("_client")]
        if len(full) != 1:
            die("%s: unsupported polymorphic object %s" % (context, one_of))
        if full[0] not in self.schemas:
            die("%s: unknown schema %s" % (context, full[0]))
        return self.message_name(full[0])

    def scalar_type(self, kind, context):
        return {
            "string": "string",
            "enum": "string",
            "decimal_string": "string",
            "integer": "int64",
            "unix_time": "int64",
            "number": "double",
            "boolean": "bool",
        }.get(kind) or die("%s: unsupported scalar kind %s" % (context, kind))

    def describe(self, prop):
        kind = prop["kind"]
        notes = []
        if kind == "unix_time":
            notes.append("Unix time, seconds.")
        elif kind == "decimal_string":
            notes.append("Decimal as a string (exact).")
        elif kind == "enum":
            values = prop.get("enum", [])
            shown = values[:8]
            text = ", ".join(shown) + (", ..." if len(values) > len(shown) else "")
            if len(values) > 1:
                notes.append("Enum as a string (open: new values arrive without notice): %s." % text)
            elif values:
                notes.append("Always \"%s\"." % values[0])
        elif kind == "map<string,object>":
            notes.append("Per-currency objects, kept as Structs.")
        if prop.get("nullable"):
            notes.append("Nullable.")
        if prop.get("optional"):
            notes.append("May be absent.")
        source = prop.get("source")
        if source == "spec_2023_only":
            notes.append("Older API versions only (removed by later ones).")
        elif source == "sdk_2026_only":
            notes.append("Newer API versions only.")
        if prop.get("comment"):
            notes.append(prop["comment"])
        return " ".join(notes)

    def member(self, key, prop, context):
        kind = prop["kind"]
        comment = self.describe(prop)
        if kind in ("string", "enum", "decimal_string", "integer", "unix_time", "number",
                    "boolean"):
            # Every scalar has presence, not only those the schema calls nullable or optional:
            # nullability and the set of keys change across API versions (the 2023 schema's
            # non-null `settings.bacs_debit_payments.display_name` is null in 2024-06-20
            # events), and an unset field must never read as a real 0, "" or false.
            return Field(key, self.scalar_type(kind, context), "optional", comment)
        if kind == "map<string,string>":
            return Field(key, "map<string, string>", "", comment)
        if kind == "map<string,int64>":
            return Field(key, "map<string, int64>", "", comment)
        if kind == "map<string,object>":
            return Field(key, "map<string, %s>" % STRUCT, "", comment)
        if kind in ("object", "inline_object"):
            return Field(key, self.object_type(prop, context), "", comment)
        if kind == "polymorphic_object":
            return Field(key, self.polymorphic_type(prop, context), "", comment)
        if kind in ("expandable", "expandable_polymorphic"):
            target = self.ref_target(prop["expands_to"], context)
            return Oneof(key, [
                Field(key + "_id", "string", comment="The id (not expanded)."),
                Field(key + "_object", target, comment="The expanded object."),
            ], comment or "Expandable reference.")
        if kind == "list":
            items = prop["list_items"]
            if items["kind"] == "polymorphic_object":
                item_type = self.polymorphic_type(items, context)
            else:
                item_type = self.object_type(items, context)
            label = items.get("schema_ref") or items.get("sdk_type") or "/".join(
                items.get("one_of", []))
            return Field(key, self.list_message(item_type, "`%s`" % label), "", comment)
        if kind == "array":
            items = dict(items_of(prop))
            if items["kind"] in ("object", "inline_object"):
                elem = self.object_type(items, context)
            elif items["kind"] == "expandable":
                elem = self.ref_message(items["expands_to"], context)
            elif items["kind"] == "polymorphic_object":
                elem = self.polymorphic_type(items, context)
            else:
                elem = self.scalar_type(items["kind"], context)
            note = comment
            if prop.get("nullable"):
                note = (note + " null and [] both convert to an empty list.").strip()
            return Field(key, elem, "repeated", note)
        die("%s: unsupported kind %s" % (context, kind))

    def build_schema(self, schema):
        name = self.message_of_schema[schema]
        info = self.schemas[schema]
        if info["top"]:
            comment = "Stripe `%s` object." % schema
        else:
            comment = "Stripe schema `%s`." % schema
        if info.get("comment"):
            comment += " " + info["comment"]
        msg = Message(name, comment + " Source: %s." % info["source"], "schema:" + schema)
        props = dict(info["properties"])
        if schema in self.deletable and "deleted" not in props:
            props["deleted"] = {
                "json_type": "boolean", "kind": "boolean", "nullable": False, "optional": True,
                "comment": "Set (true) on the stub Stripe sends for a deleted %s." % schema,
            }
        for key in sorted(props):
            if not IDENT.match(key):
                die("%s: property name %r is not a protobuf identifier" % (schema, key))
            msg.members.append(self.member(key, props[key], "%s.%s" % (schema, key)))
        if name in self.messages:
            die("message %s defined twice" % name)
        self.messages[name] = msg

    def build(self, roots):
        for root in roots:
            self.message_name(root)
        while self.pending:
            self.build_schema(self.pending.pop(0))
        for msg in self.messages.values():
            check_message(msg)


def items_of(prop):
    return prop["items"]


def check_message(msg):
    names = msg.field_names()
    if len(set(names)) != len(names):
        die("%s: duplicate field names" % msg.name)
    camel = {}
    for n in names:
        c = lower_camel(n)
        if c in camel:
            die("%s: fields %s and %s have the same JSON name" % (msg.name, camel[c], n))
        camel[c] = n
    keys = [m.name for m in msg.members]
    for m in msg.members:
        if isinstance(m, Oneof) and not msg.variant:
            for arm in m.arms:
                if arm.name in keys:
                    die("%s: oneof arm %s collides with a JSON key" % (msg.name, arm.name))


# ---------------------------------------------------------------------------------------------
# Field numbers.


class Registry:
    def __init__(self, path):
        self.path = path
        if os.path.exists(path):
            with open(path) as f:
                data = json.load(f)
            self.messages = data["messages"]
        else:
            self.messages = {}

    def number(self, message, field):
        fields = self.messages.setdefault(message, {})
        if field not in fields:
            used = set(fields.values())
            n = max(used) + 1 if used else 1
            while n in RESERVED_RANGE or n in used:
                n += 1
            fields[field] = n
        return fields[field]

    def reserved(self, message, live):
        fields = self.messages.get(message, {})
        return sorted((n, f) for f, n in fields.items() if f not in live)

    def text(self):
        data = {
            "about": "Field numbers of protos/stripe/v1/resources.proto, owned by "
                     "tools/stripe_protos/gen_stripe_protos.py. Append only: never edit or "
                     "remove an entry (a field that disappears becomes `reserved`).",
            "messages": {m: dict(sorted(f.items(), key=lambda kv: kv[1]))
                         for m, f in sorted(self.messages.items())},
        }
        return json.dumps(data, indent=1, sort_keys=False) + "\n"


# ---------------------------------------------------------------------------------------------
# Output.


def wrap_comment(text, indent):
    words = text.split()
    lines, line = [], ""
    width = 100 - len(indent) - 3
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = (line + " " + w) if line else w
    if line:
        lines.append(line)
    return "".join("%s// %s\n" % (indent, l) for l in lines)


def render_proto(model, registry):
    out = []
    out.append(
        "// GENERATED by tools/stripe_protos/gen_stripe_protos.py: DO NOT EDIT. Change the "
        "generator or\n"
        "// tools/stripe_protos/extra_schemas.json and run it again (see its usage).\n"
        "//\n"
        "// Typed Stripe resources: every object an event's `data.object` can carry that has a "
        "schema,\n"
        "// and every object nested in them. Mapping rules (docs/MAPPING.md):\n"
        "//   - enums are strings; amounts and counts int64 (minor units); Unix times int64 "
        "seconds;\n"
        "//     decimal strings stay strings; `number` is double;\n"
        "//   - every scalar is `optional` (has presence): null and an absent key both leave it "
        "unset, so\n"
        "//     has_<field>() tells a real 0, \"\" or false from no value (Stripe's nullability "
        "changes\n"
        "//     across API versions); nullable arrays: null and [] are both empty;\n"
        "//   - an expandable reference `<key>` is `oneof <key> { string <key>_id; Msg "
        "<key>_object; }`;\n"
        "//     an expanded resource without a message of its own is a google.protobuf.Struct;\n"
        "//   - a message whose only member is `oneof value` is a wrapper: `{id, object}` for a "
        "reference in\n"
        "//     a list, or one arm per object kind, chosen by the JSON `object` value;\n"
        "//   - nested objects Stripe documents only in newer SDKs are google.protobuf.Struct.\n"
        "// Field numbers come from field_numbers.json and never change.\n"
        "syntax = \"proto3\";\n\npackage %s;\n\nimport \"google/protobuf/struct.proto\";\n"
        % PACKAGE)
    for name in sorted(model.messages):
        msg = model.messages[name]
        out.append("\n")
        out.append(wrap_comment(msg.comment, ""))
        out.append("message %s {\n" % name)
        live = set(msg.field_names())
        for n, f in registry.reserved(name, live):
            out.append("  reserved %d;\n  reserved \"%s\";\n" % (n, f))
        for m in msg.members:
            if isinstance(m, Oneof):
                if m.comment:
                    out.append(wrap_comment("`%s`: %s" % (m.name, m.comment), "  "))
                out.append("  oneof %s {\n" % m.name)
                for arm in m.arms:
                    if msg.variant and arm.comment:
                        out.append(wrap_comment(arm.comment, "    "))
                    out.append("    %s %s = %d;\n" %
                               (proto_type(arm.type), arm.name, registry.number(name, arm.name)))
                out.append("  }\n")
            else:
                if m.comment:
                    out.append(wrap_comment(m.comment, "  "))
                label = (m.label + " ") if m.label else ""
                out.append("  %s%s %s = %d;\n" %
                           (label, proto_type(m.type), m.name, registry.number(name, m.name)))
        out.append("}\n")
    return "".join(out)


def proto_type(t):
    return "." + t if t.startswith("google.") else t


def cc_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_table(model, event_types):
    rows = []
    for e in sorted(event_types, key=lambda e: e["type"]):
        rows.append("    {%s, %s},\n" % (cc_string(e["type"]), cc_string(e["object"])))
    kinds = sorted(k for k in model.schemas if model.typed_kind(k))
    kind_rows = "".join("    {%s, &%s::descriptor},\n" %
                        (cc_string(k), model.message_of_schema[k]) for k in kinds)
    return (
        "// GENERATED by tools/stripe_protos/gen_stripe_protos.py from Stripe's event catalogue\n"
        "// (event_types.json): DO NOT EDIT. Included by event_types.cc only.\n"
        "//\n"
        "// kEventTypeRows: every v1 event type and the object kind its data.object carries\n"
        "// (`a|b` for families whose object varies). kKindRows: every object kind with a message.\n"
        "constexpr EventTypeRow kEventTypeRows[] = {\n" + "".join(rows) + "};\n\n"
        "const KindRow kKindRows[] = {\n" + kind_rows + "};\n")


# ---------------------------------------------------------------------------------------------
# Example check: keys the model does not know.


def unknown_keys(model, value, message, path, out):
    msg = model.messages[message]
    if not isinstance(value, dict):
        return
    if msg.variant:
        oneof = msg.members[0]
        arms = {a.name: a for a in oneof.arms}
        arm = arms.get("object") or arms.get(kind_arm(str(value.get("object", ""))))
        if arm and arm.type in model.messages:
            unknown_keys(model, value, arm.type, path, out)
        return
    members = {m.name: m for m in msg.members}
    for key, v in value.items():
        m = members.get(key)
        if m is None:
            out.add("%s (%s).%s" % (path, message, key))
            continue
        if isinstance(m, Oneof):
            t = m.arms[1].type
            if isinstance(v, dict) and t in model.messages:
                unknown_keys(model, v, t, path + "." + key, out)
            continue
        if m.type in model.messages:
            if m.label == "repeated" and isinstance(v, list):
                for x in v:
                    unknown_keys(model, x, m.type, path + "." + key + "[]", out)
            elif isinstance(v, dict):
                lm = model.messages[m.type]
                if lm.origin.startswith("list:"):
                    data = [mm for mm in lm.members if mm.name == "data"][0]
                    for x in v.get("data", []) or []:
                        if data.type in model.messages:
                            unknown_keys(model, x, data.type, path + "." + key + ".data[]", out)
                else:
                    unknown_keys(model, v, m.type, path + "." + key, out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stripe_dir", help="directory with resources.json etc. (../shared/stripe)")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the committed outputs are stale")
    parser.add_argument("--examples", help="directory of example events to report unknown keys")
    args = parser.parse_args()

    def load(name):
        with open(os.path.join(args.stripe_dir, name)) as f:
            return json.load(f)

    resources = load("resources.json")["resources"]
    subschemas = load("resource_subschemas_2023-08-16.json")["schemas"]
    event_types = load("event_types.json")["event_types"]
    with open(EXTRAS_PATH) as f:
        extras = json.load(f)

    model = Model(resources, subschemas, extras)
    roots = sorted(resources)
    for e in event_types:
        for kind in e["object"].split("|"):
            if model.typed_kind(kind):
                roots.append(kind)
    model.build(sorted(set(roots)))

    registry = Registry(REGISTRY_PATH)
    outputs = {
        PROTO_PATH: render_proto(model, registry),
        TABLE_PATH: render_table(model, event_types),
    }
    outputs[REGISTRY_PATH] = registry.text()

    if args.examples:
        seen = set()
        for dirpath, _, files in os.walk(args.examples):
            for f in sorted(files):
                if not f.endswith(".json"):
                    continue
                with open(os.path.join(dirpath, f)) as fh:
                    event = json.load(fh)
                obj = event.get("data", {}).get("object")
                if not isinstance(obj, dict):
                    continue
                kind = obj.get("object")
                if kind in model.message_of_schema:
                    unknown_keys(model, obj, model.message_of_schema[kind], kind, seen)
        for line in sorted(seen):
            print("unknown key: " + line)

    stale = []
    for path, text in outputs.items():
        old = None
        if os.path.exists(path):
            with open(path) as f:
                old = f.read()
        if old != text:
            stale.append(path)
            if not args.check:
                with open(path, "w") as f:
                    f.write(text)
    if args.check and stale:
        sys.stderr.write("stale: %s\n" % ", ".join(os.path.relpath(p, ROOT) for p in stale))
        return 1
    sys.stderr.write("%d messages, %d event types; %s\n" % (
        len(model.messages), len(event_types),
        "up to date" if not stale else ("checked" if args.check else "wrote " + ", ".join(
            os.path.relpath(p, ROOT) for p in stale))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
