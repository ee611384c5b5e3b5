"""Attributes templates read, checked against what Touchline, the project and the journey
declare: ``customer.frist_name`` is reported by ``journeys validate``, with "did you mean
``customer.first_name``", instead of failing for every customer at send time.

The templates are parsed, not rendered: every chain of attribute reads rooted at a context
name (``customer.first_name``, ``event.payload.cart.total``, ``links["unsubscribe"]``) is
collected from the Jinja syntax tree, including layouts a template extends or includes.

What is known for each name:
- ``customer``: ``id`` plus the catalogue (``attributes.yaml``) plus the journey's own
  ``attributes: {customer: [...]}``;
- ``segment``: the catalogue's launch-file columns plus the journey's ``attributes: {segment: [...]}``;
- ``event``: id, type, occurred_at, payload; ``event.payload.<field>`` against the tracking
  plan's schema of the trigger event, when that schema lists its properties;
- ``company``, ``enrollment``, ``links``, ``journey``, ``step``, ``launch``: what
  ``engine/messages.template_context`` builds (listed in ``CONTEXT_FIELDS``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml
from jinja2 import meta, nodes

from touchline.content import TemplateCatalog
from touchline.content.catalog import CHANNEL_PARTS
from touchline.errors import ConfigurationError, Problem
from touchline.intake.tracking_plan import TrackingPlan
from touchline.journeys.model import JourneyDefinition, SendStep

# The fixed parts of the render context (touchline/engine/messages.py: template_context).
CONTEXT_FIELDS: dict[str, frozenset[str]] = {
    "company": frozenset({"name", "postal_address"}),
    "enrollment": frozenset({"id", "entered_at", "trigger_at"}),
    "links": frozenset({"unsubscribe", "preferences", "confirm_sms"}),
    "journey": frozenset({"key", "name"}),
    "step": frozenset({"id"}),
    "launch": frozenset({"id", "name"}),
    "event": frozenset({"id", "type", "occurred_at", "payload"}),
}
ALWAYS_CUSTOMER = frozenset({"id"})
CATALOGUE_SECTIONS = ("customer", "segment")


@dataclass(frozen=True)
class AttributeCatalogue:
    customer: dict[str, dict[str, Any]] = field(default_factory=dict)
    segment: dict[str, dict[str, Any]] = field(default_factory=dict)


def load_catalogue(path: Path) -> AttributeCatalogue:
    """The project's catalogue; an absent file declares nothing (only ``customer.id``)."""
    path = Path(path)
    if not path.is_file():
        return AttributeCatalogue()
    try:
        document = yaml.safe_load(path.read_text("utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path.name} is not YAML: {exc}") from exc
    if not isinstance(document, dict) or set(document) - set(CATALOGUE_SECTIONS):
        raise ConfigurationError(
            f"{path.name}: expected the sections {', '.join(CATALOGUE_SECTIONS)}"
        )
    sections = {}
    for section in CATALOGUE_SECTIONS:
        entries = document.get(section) or {}
        if not isinstance(entries, dict):
            raise ConfigurationError(f"{path.name}: '{section}' maps attribute names to details")
        sections[section] = {str(k): (v if isinstance(v, dict) else {}) for k, v in entries.items()}
    return AttributeCatalogue(**sections)


@dataclass(frozen=True)
class Read:
    """One chain of attribute reads in a template: ``customer.first_name`` at a line."""

    root: str
    path: tuple[str, ...]
    line: int

    def __str__(self) -> str:
        return ".".join((self.root, *self.path))


def reads(tree: nodes.Template) -> Iterator[Read]:
    """Every outermost attribute chain rooted at a name the template does not assign."""
    assigned = _assigned_names(tree)
    inner: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if id(node) in inner:
            continue
        chain: list[str] = []
        current: nodes.Node = node
        while isinstance(current, nodes.Getattr | nodes.Getitem):
            inner.add(id(current))
            if isinstance(current, nodes.Getattr):
                chain.append(current.attr)
            elif isinstance(current.arg, nodes.Const) and isinstance(current.arg.value, str):
                chain.append(current.arg.value)
            else:
                chain = []  # a computed key (cart.items[0], d[name]): the rest cannot be known
            current = current.node
        if isinstance(current, nodes.Name) and current.name not in assigned and chain:
            yield Read(current.name, tuple(reversed(chain)), node.lineno)


def _assigned_names(tree: nodes.Template) -> set[str]:
    names: set[str] = set()
    for node in tree.find_all((nodes.Name,)):
        if node.ctx in ("store", "param"):
            names.add(node.name)
    return names


def check_attributes(
    definition: JourneyDefinition,
    catalog: TemplateCatalog,
    catalogue: AttributeCatalogue,
    plan: TrackingPlan | None = None,
) -> list[Problem]:
    """Each attribute a send step's templates read that no one provides."""
    declared = definition.attributes
    known: dict[str, set[str]] = {
        "customer": set(ALWAYS_CUSTOMER) | set(catalogue.customer) | set(declared.get("customer", [])),
        "segment": set(catalogue.segment) | set(declared.get("segment", [])),
        **{name: set(fields) for name, fields in CONTEXT_FIELDS.items()},
    }  # fmt: skip
    payload_fields = _payload_fields(definition, plan)
    problems: list[Problem] = []
    reported: set[tuple[str, str]] = set()
    for index, step in enumerate(definition.steps):
        if not isinstance(step, SendStep):
            continue
        for template in _template_files(catalog, step.template):
            for filename, read in _reads_of(catalog, template):
                message = _unknown(read, known, payload_fields, definition)
                if message and (filename, str(read)) not in reported:
                    reported.add((filename, str(read)))
                    problems.append(
                        Problem(f"steps[{index}].template", f"{filename}:{read.line}: {message}")
                    )
    return problems


def _unknown(
    read: Read,
    known: dict[str, set[str]],
    payload_fields: set[str] | None,
    definition: JourneyDefinition,
) -> str | None:
    if read.root not in known or read.root in definition.context:
        return None  # the journey's own context (offer.*) and loop variables are not ours
    first = read.path[0]
    if read.root == "event" and first == "payload" and len(read.path) > 1:
        if payload_fields is None or read.path[1] in payload_fields:
            return None
        where = f"the tracking plan's payload of {definition.trigger.event}"
        return _with_suggestion(f"event.payload.{read.path[1]}", read.path[1], payload_fields,
                                "event.payload.", where)  # fmt: skip
    if first in known[read.root]:
        return None
    where = {
        "customer": "attributes.yaml nor the journey's `attributes: {customer: [...]}`",
        "segment": "attributes.yaml (segment:) nor the journey's `attributes: {segment: [...]}`",
    }.get(read.root, "the template context (docs/templates.md)")
    return _with_suggestion(f"{read.root}.{first}", first, known[read.root], f"{read.root}.", where)


def _with_suggestion(name: str, attr: str, choices: set[str], prefix: str, where: str) -> str:
    close = difflib.get_close_matches(attr, sorted(choices), n=1, cutoff=0.6)
    hint = f"; did you mean {prefix}{close[0]}?" if close else ""
    return f"{name} is not declared in {where}{hint}"


def _payload_fields(definition: JourneyDefinition, plan: TrackingPlan | None) -> set[str] | None:
    """The trigger event's payload properties, or None when nothing can be said."""
    event_type = definition.trigger.event
    if plan is None or event_type is None or event_type not in plan:
        return None
    properties = plan.events[event_type].schema.get("properties")
    return set(properties) if isinstance(properties, dict) else None


def _template_files(catalog: TemplateCatalog, name: str) -> list[str]:
    files: list[str] = []
    for parts in CHANNEL_PARTS.values():
        for part in parts:
            files += catalog._all_locale_files(name, part)
    # The approved WhatsApp template's variables are Jinja expressions over the same context.
    folder, stem = Path(name).parent, Path(name).name
    files += [
        str(folder / p.name) if str(folder) != "." else p.name
        for p in (catalog.root / folder).glob(f"{stem}*.whatsapp.yaml")
    ]
    return sorted(set(files))


def _sidecar_reads(catalog: TemplateCatalog, filename: str) -> list[tuple[str, Read]]:
    try:
        document = yaml.safe_load((catalog.root / filename).read_text("utf-8")) or {}
        variables = document.get("variables") or {}
        trees = [catalog.env.parse(str(expression)) for expression in variables.values()]
    except (OSError, AttributeError, yaml.YAMLError, jinja2.TemplateSyntaxError):
        return []  # the WhatsApp checks report a sidecar they cannot read
    return [(filename, read) for tree in trees for read in reads(tree)]


def _reads_of(catalog: TemplateCatalog, filename: str) -> list[tuple[str, Read]]:
    """The reads of a template and of the layouts it extends or includes."""
    if filename.endswith(".yaml"):
        return _sidecar_reads(catalog, filename)
    found: list[tuple[str, Read]] = []
    pending, seen = [filename], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            source = catalog.env.loader.get_source(catalog.env, current)[0]  # type: ignore[union-attr]
            tree = catalog.env.parse(source)
        except (jinja2.TemplateNotFound, jinja2.TemplateSyntaxError):
            continue  # reported by the template checks already
        found += [(current, read) for read in reads(tree)]
        pending.extend(t for t in meta.find_referenced_templates(tree) if t)
    return found
