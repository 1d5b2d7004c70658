"""The rules document as typed, immutable values, validated field by field.

Structure and per-value checks (types, operators, operand shapes, field paths) live on the models,
so pydantic reports every one of them in a single pass with its location. References between parts
(partners named by assignments, declared and encrypted custom fields) are checked in the same pass
against the names the document declares, which :mod:`processor.rules.validate` reads beforehand and
passes as the validation context; build documents with :func:`processor.rules.load_rules` or
:func:`processor.rules.validate.validate_document`, which also check uniqueness.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args
from urllib.parse import unquote, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from processor.geometry.geo import GeoSource
from processor.rules.durations import parse_delay, parse_duration
from processor.rules.fields import GEO, FieldRef, parse_field
from processor.rules.operators import OPERATORS, OperandError, Operator, Variable, parse_operand
from processor.rules.schedule import DEFAULT_ZONE, parse_date, parse_days, parse_range, zone_problem

ALL = "ALL"
"""The category of assignments that apply to leads of every interest category."""

PARTNER_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
FIELD_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")

Strategy = Literal["first_match", "round_robin", "weighted", "highest_price", "all"]
STRATEGIES: frozenset[str] = frozenset(get_args(Strategy))


@dataclass(frozen=True, slots=True)
class Declarations:
    """The names a document declares, read before validation so that references can be checked.

    ``custom`` maps each declared custom field to whether it is encrypted; when no field is declared
    any custom field name is accepted.
    """

    partners: frozenset[str]
    custom: Mapping[str, bool]


def _declarations(info: ValidationInfo) -> Declarations | None:
    context = info.context
    return context.get("declarations") if isinstance(context, dict) else None


def _error(kind: str, message: str) -> PydanticCustomError:
    """A validation error whose text is exactly ``message``, braces and all."""
    return PydanticCustomError(kind, "{message}", {"message": message})


def _check_field(
    ref: FieldRef,
    path: str,
    info: ValidationInfo,
    encrypted: str = "conditions on encrypted fields are not allowed",
) -> None:
    """Refuses an undeclared custom field, and an encrypted one for the reason ``encrypted``."""
    declarations = _declarations(info)
    name = ref.custom_name
    if declarations is None or name is None:
        return
    if declarations.custom.get(name):
        raise _error("encrypted_field", f"field {path!r} is encrypted: {encrypted}")
    if declarations.custom and name not in declarations.custom:
        known = ", ".join(sorted(declarations.custom))
        raise _error(
            "unknown_field", f"unknown field {path!r}: not among the declared fields ({known})"
        )


def _check_partner(partner: str, info: ValidationInfo) -> str:
    declarations = _declarations(info)
    if declarations is not None and partner not in declarations.partners:
        raise _error("unknown_partner", f"unknown partner {partner!r}")
    return partner


def _not_bool(value: object) -> object:
    if isinstance(value, bool):
        raise _error("number_type", "should be a number, not a boolean")
    return value


Number = Annotated[float, BeforeValidator(_not_bool), Field(allow_inf_nan=False)]
MAX_MONEY = 1e12
"""The largest price or revenue cap, in currency units: more than any lead is worth, and small
enough that sums of them, counted in millionths, stay within 64-bit counters."""
Money = Annotated[Number, Field(ge=-MAX_MONEY, le=MAX_MONEY)]
Text = Annotated[str, Field(min_length=1)]


def _partner_id(value: object) -> object:
    if isinstance(value, str) and not PARTNER_ID.fullmatch(value):
        raise _error(
            "bad_id",
            f"bad id {value!r}: use lowercase letters, digits, '.', '_' and '-', starting with a "
            "letter or digit, at most 64 characters",
        )
    return value


Identifier = Annotated[str, BeforeValidator(_partner_id)]


def _strategy(value: object) -> object:
    if isinstance(value, str) and value not in STRATEGIES:
        raise _error("unknown_strategy", f"unknown strategy {value!r}")
    return value


def _operator(value: object) -> object:
    if isinstance(value, str) and value not in OPERATORS:
        raise _error("unknown_operator", f"unknown operator {value!r}")
    return value


class Model(BaseModel):
    """Unknown keys are errors (they are typos more often than not); values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldDef(Model):
    """A custom Entity field: its type, and whether its value is encrypted end to end."""

    type: Literal["string", "number", "boolean"] = "string"
    encrypted: bool = False


class Location(Model):
    lat: Annotated[Number, Field(ge=-90, le=90)]
    lon: Annotated[Number, Field(ge=-180, le=180)]


def _inside_deliveries_dir(uri: str) -> str:
    """Refuses a ``file:`` destination that climbs with ``..``: whatever ``DELIVERIES_DIR`` is
    where a worker runs, it may lead out of it (workers also refuse any folder outside it)."""
    try:
        parts = urlsplit(uri)
    except ValueError:  # a destination the worker refuses when it sends
        return uri
    if parts.scheme.lower() == "file" and ".." in unquote(f"{parts.netloc}/{parts.path}").split(
        "/"
    ):
        raise _error(
            "bad_destination",
            "a file: destination may not contain '..': it could lead out of DELIVERIES_DIR",
        )
    return uri


Destination = Annotated[Text, AfterValidator(_inside_deliveries_dir)]


def _checked(kind: str, problem: Callable[[str], object]) -> Callable[[object], object]:
    """A validator that refuses a string ``problem`` finds fault with, in ``problem``'s words."""

    def check(value: object) -> object:
        if isinstance(value, str):
            found = problem(value)
            if isinstance(found, str):
                raise _error(kind, found)
        return value

    return check


DayKey = Annotated[str, BeforeValidator(_checked("bad_day", parse_days))]
Hours = Annotated[str, BeforeValidator(_checked("bad_hours", parse_range))]
ClosedDate = Annotated[str, BeforeValidator(_checked("bad_date", parse_date))]
TimeZone = Annotated[str, AfterValidator(_checked("bad_timezone", zone_problem))]
Duration = Annotated[str, BeforeValidator(_checked("bad_duration", parse_duration))]
"""A span such as ``30m``, ``12h`` or ``30d``, kept as written (read it with ``seconds``)."""
Delay = Annotated[str, BeforeValidator(_checked("bad_delay", parse_delay))]
"""A wait before a retry: ``30s``, ``5m``, ``2h``; kept as written (read it with ``delay_s``)."""
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]

CapPeriod = Literal["hour", "day", "week", "month", "total"]
CAP_PERIODS: tuple[str, ...] = get_args(CapPeriod)


def _period(value: object) -> object:
    if isinstance(value, str) and value not in CAP_PERIODS:
        raise _error(
            "unknown_period", f"unknown cap window {value!r}: use {', '.join(CAP_PERIODS)}"
        )
    return value


def seconds(duration: str) -> int:
    """A valid :data:`Duration` in seconds."""
    found = parse_duration(duration)
    assert isinstance(found, int), "validated"
    return found


def delay_s(delay: str) -> int:
    """A valid :data:`Delay` in seconds."""
    found = parse_delay(delay)
    assert isinstance(found, int), "validated"
    return found


MAX_RETRIES = 10
"""The most retries a partner's schedule may hold: each is a retry topic per partner."""
GiveUp = Literal["give_up", "reoffer"]
"""What happens to a delivery the partner's destinations will not take: ``give_up`` (a ``failed``
or ``rejected`` receipt, and an alert when it keeps happening) or ``reoffer`` (the lead is offered
to the next candidate by the same rules, without this partner)."""


class Returns(Model):
    """How a partner may return a lead it was delivered."""

    window: Duration = "7d"
    """A return within this span of the delivery is credited, and gives the caps their unit back;
    a later one is refused."""
    reoffer: bool = False
    """Whether a credited return offers the lead to the next candidate."""


class DeliveryPolicy(Model):
    """What a delivery worker does when the partner's destinations do not take a delivery."""

    retries: Annotated[tuple[Delay, ...], Field(max_length=MAX_RETRIES)] = (
        "1m",
        "5m",
        "30m",
        "2h",
        "12h",
    )
    """The waits before each retry after a failed attempt, through the partner's retry topics;
    empty: no retries."""
    on_exhausted: GiveUp = "give_up"
    """When the last retry failed too."""
    on_refused: GiveUp = "give_up"
    """When a destination refused the lead for good (HTTP 4xx, SMTP 5xx)."""
    returns: Returns = Returns()


DEFAULT_POLICY = DeliveryPolicy()


class Cap(Model):
    """At most ``leads`` deliveries, or ``revenue`` in ``currency``, ``per`` window: an hour, a
    day, an ISO week or a month of the partner's local time, or in ``total``."""

    per: Annotated[CapPeriod, BeforeValidator(_period)]
    leads: Annotated[int, BeforeValidator(_not_bool), Field(ge=1)] | None = None
    revenue: Annotated[Money, Field(gt=0)] | None = None
    currency: Currency | None = None

    @model_validator(mode="after")
    def _one_measure(self) -> Cap:
        if (self.leads is None) == (self.revenue is None):
            raise _error("bad_cap", "a cap counts either leads or revenue: give one of them")
        if self.revenue is not None and self.currency is None:
            raise _error("bad_cap", "a revenue cap needs its currency, e.g. currency: USD")
        if self.leads is not None and self.currency is not None:
            raise _error("bad_cap", "a currency goes with a revenue cap, not a leads cap")
        return self

    @property
    def unit(self) -> str:
        """What the cap counts: ``leads``, or ``revenue USD``."""
        return "leads" if self.leads is not None else f"revenue {self.currency}"

    @property
    def limit(self) -> float:
        return float(self.leads if self.leads is not None else self.revenue or 0.0)

    @property
    def window(self) -> str:
        """The window as messages say it: ``per day``, ``in total``."""
        return "in total" if self.per == "total" else f"per {self.per}"

    @property
    def summary(self) -> str:
        """The cap as messages say it: ``100 leads per day``, ``500 USD of revenue in total``."""
        if self.leads is not None:
            return f"{self.leads} leads {self.window}"
        return f"{_amount(self.limit)} {self.currency} of revenue {self.window}"


def _amount(value: float) -> str:
    """``500.0`` as ``500``, ``12.5`` as ``12.5``: amounts as people write them."""
    return str(int(value)) if value.is_integer() else repr(value)


Caps = tuple[Cap, ...]


class Schedule(Model):
    """When a partner takes leads: each day key (``mon``, or a range ``mon-fri``) maps to that
    day's ``HH:MM-HH:MM`` ranges; days not listed are closed, and so are ``closed_dates``.

    Day keys are the model's extra keys, so each is checked with its path; keys that cover the same
    day are refused by :mod:`processor.rules.validate`, which sees the keys as written.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[DayKey, tuple[Hours, ...]] = Field(init=False)

    closed_dates: tuple[ClosedDate, ...] | None = None

    @property
    def days(self) -> Mapping[str, tuple[str, ...]]:
        """Each day key and its ranges, as written."""
        return self.model_extra or {}


class Partner(Model):
    """A receiving system: where its deliveries go, when it takes leads and, optionally, where its
    store is."""

    id: Identifier
    name: str | None = None
    format: Literal["adf_xml", "json", "text"]
    destinations: tuple[Destination, ...] = ()
    location: Location | None = None
    active: bool = True
    timezone: TimeZone | None = None
    """None is UTC; left unset so that documents written without it read back without it."""
    schedule: Schedule | None = None
    """None is always open."""
    caps: Caps = ()
    reject_duplicates_within: Duration | None = None
    """Never send this partner the same person twice within this span."""
    delivery: DeliveryPolicy | None = None
    """None is :data:`DEFAULT_POLICY`; left unset so that documents without it keep their digest."""

    @property
    def policy(self) -> DeliveryPolicy:
        """Retries, giving up and returns, as the document says or by default."""
        return self.delivery or DEFAULT_POLICY

    @property
    def zone(self) -> str:
        """The partner's IANA time zone."""
        return self.timezone or DEFAULT_ZONE


class Condition(Model):
    """One test of one lead field; its value is checked against its operator."""

    field: str
    op: Annotated[Operator, BeforeValidator(_operator)]
    value: Any = Field(default=None, validate_default=True)

    @field_validator("field")
    @classmethod
    def _known_field(cls, path: str, info: ValidationInfo) -> str:
        ref = parse_field(path)
        if isinstance(ref, str):
            raise _error("unknown_field", ref)
        _check_field(ref, path, info)
        return path

    @field_validator("op")
    @classmethod
    def _field_suits_op(cls, op: Operator, info: ValidationInfo) -> Operator:
        path = info.data.get("field")
        if op == "within_km" and path is not None and path != GEO:
            raise _error("bad_field", f"within_km needs field 'geo', not {path!r}")
        if path == GEO and op != "within_km":
            raise _error("bad_field", "field 'geo' takes only the within_km operator")
        return op

    @field_validator("value")
    @classmethod
    def _value_suits_op(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op is None:
            return value
        try:
            operand = parse_operand(op, value)
        except OperandError as error:
            raise _error("bad_value", str(error)) from None
        if isinstance(operand, Variable):
            _check_field(operand.ref, operand.path, info)
        return value

    @property
    def ref(self) -> FieldRef:
        """The field this condition tests (valid by construction)."""
        ref = parse_field(self.field)
        assert not isinstance(ref, str)
        return ref


def _not_empty_or_set(value: object) -> object:
    if isinstance(value, list | tuple) and not value:
        raise _error(
            "empty_or_set",
            "an OR-set needs at least one condition (write filter: [] to match every lead)",
        )
    return value


OrSet = Annotated[tuple[Condition, ...], BeforeValidator(_not_empty_or_set)]


class Assignment(Model):
    """Sends leads of a category that match the filter to a partner."""

    id: Annotated[str, Field(min_length=1, max_length=128)]
    partner: str
    category: Annotated[str, Field(min_length=1)] = ALL
    filter: tuple[OrSet, ...] = ()
    price: Money | None = None
    weight: Annotated[int, Field(ge=1)] = 1
    caps: Caps = ()
    """Count this assignment's deliveries only, beside its partner's own caps."""

    @field_validator("partner")
    @classmethod
    def _known_partner(cls, partner: str, info: ValidationInfo) -> str:
        return _check_partner(partner, info)

    @property
    def is_catch_all(self) -> bool:
        """True when the filter is ``[]``: every lead matches."""
        return not self.filter


def is_all(category: str) -> bool:
    """Whether a category is ``ALL`` (case and surrounding whitespace ignored, like categories)."""
    return category.strip().casefold() == "all"


def _sources(sources: tuple[GeoSource, ...]) -> tuple[GeoSource, ...]:
    if not sources:
        raise _error("no_sources", "list at least one of 'coords', 'postcode', 'ip'")
    repeated = sorted({source for source in sources if sources.count(source) > 1})
    if repeated:
        raise _error("repeated_source", f"{', '.join(map(repr, repeated))} listed more than once")
    return sources


class NearestStore(Model):
    """Nearest-store routing; ``sources`` are the geolocations it trusts, most trusted first.

    The default trusts the typed postcode over the IP address, which VPNs and mobile networks move
    far from the visitor.
    """

    enabled: bool = False
    max_km: Annotated[Number, Field(gt=0)] | None = None
    sources: Annotated[tuple[GeoSource, ...], AfterValidator(_sources)] = (
        "coords",
        "postcode",
        "ip",
    )


def _key_path(path: str, info: ValidationInfo) -> str:
    ref = parse_field(path)
    if isinstance(ref, str):
        raise _error("unknown_field", ref)
    if path == GEO:
        raise _error("bad_field", "'geo' is no key: name one of its fields, e.g. geo.postcode")
    _check_field(
        ref, path, info, "only the partner reads its value, so it cannot be a duplicate key"
    )
    return path


def _some_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    if not keys:
        raise _error("no_keys", "list at least one field, e.g. [contact.email, contact.phone]")
    return keys


class Duplicates(Model):
    """A profile's duplicate check: a lead whose ``keys`` (any one of them, normalised) equal those
    of a lead this profile routed within ``within`` before it is a duplicate."""

    keys: Annotated[
        tuple[Annotated[str, AfterValidator(_key_path)], ...], AfterValidator(_some_keys)
    ]
    within: Duration


def _fallback_shorthand(value: object) -> object:
    return {"partner": value} if isinstance(value, str) else value


class Fallback(Model):
    """Who takes the leads no assignment matched; ``price`` defaults to the profile's base price."""

    partner: str
    price: Money | None = None

    @field_validator("partner")
    @classmethod
    def _known_partner(cls, partner: str, info: ValidationInfo) -> str:
        return _check_partner(partner, info)


class Profile(Model):
    """The routing of one or more sites: strategy, prices, fallback and assignments."""

    id: Identifier
    sources: tuple[Text, ...] = ()
    default: bool = False
    strategy: Annotated[Strategy, BeforeValidator(_strategy)] = "first_match"
    base_price: Money = 0.0
    currency: Currency = "USD"
    nearest_store: NearestStore = NearestStore()
    max_partners: Annotated[int, BeforeValidator(_not_bool), Field(ge=1)] | None = None
    """How many partners the ``all`` strategy sells a lead to at most; None: every candidate."""
    duplicates: Duplicates | None = None
    fallback: Annotated[Fallback | None, BeforeValidator(_fallback_shorthand)] = None
    assignments: tuple[Assignment, ...] = ()

    def price_of(self, assignment: Assignment) -> float:
        """The effective price: the assignment's own, else the profile's base price."""
        return self.base_price if assignment.price is None else assignment.price

    @property
    def fallback_price(self) -> float | None:
        if self.fallback is None:
            return None
        return self.base_price if self.fallback.price is None else self.fallback.price


class RulesDocument(Model):
    """A whole rules document: custom field definitions, partners and profiles."""

    fields: dict[str, FieldDef] = Field(default_factory=dict)
    partners: tuple[Partner, ...] = ()
    profiles: tuple[Profile, ...] = ()

    @field_validator("fields")
    @classmethod
    def _field_names(cls, fields: dict[str, FieldDef]) -> dict[str, FieldDef]:
        for name in fields:
            if not FIELD_NAME.fullmatch(name):
                raise _error(
                    "bad_field_name",
                    f"bad custom field name {name!r}: use letters, digits, '_' and '-', at most 64",
                )
        return fields
