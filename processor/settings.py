"""Every setting of lead-router, in slices: each component and command is given only what it reads.

A setting is read, in order of precedence, from its command-line flag (``--bootstrap-servers``), its
environment variable (``LEAD_ROUTER_BOOTSTRAP_SERVERS``), then its default. The flags are made from
these models (see ``processor.cli.options.add_settings_flags``), so a setting is declared once,
here. Each slice is its own model reading its own variables, so that a command shows and accepts
the flags of the slices it reads and no others; ``Settings`` composes them for the commands that
need several.
"""

from __future__ import annotations

import socket
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from processor.errors import InvalidInput
from processor.rules.limits import DEFAULT_LIMITS, RulesLimits

ENV_PREFIX = "LEAD_ROUTER_"


class _Slice(BaseSettings):
    """A group of settings read by the same components, each from its ``LEAD_ROUTER_*`` variable."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)


class KafkaSettings(_Slice):
    """The connection to the brokers and the transactions on it: what every Kafka client reads."""

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka security protocol"
    )
    sasl_mechanism: str | None = Field(None, description="SASL mechanism, e.g. SCRAM-SHA-512")
    sasl_username: str | None = Field(None, description="SASL user name")
    sasl_password: SecretStr | None = Field(None, description="SASL password")
    ssl_ca_location: Path | None = Field(None, description="CA certificate file for SSL")
    ssl_certificate_location: Path | None = Field(None, description="client certificate file")
    ssl_key_location: Path | None = Field(None, description="client private key file")
    group_id: str = Field("lead-router", description="consumer group of the processors")
    transactional_id: str | None = Field(
        None,
        description="this instance's transactional id; stable across restarts so a restart "
        "fences its crashed predecessor (default: <group id>-<host name>)",
    )
    answer_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="how long a command waits for the brokers to answer at all (a cluster still "
        "starting) before it says they did not and exits 4",
    )
    session_timeout_ms: int = Field(
        45000,
        ge=1000,
        description="how long the consumer group waits for a processor that stopped heartbeating "
        "(a crash) before its partitions go to the others, or to its restarted self; at least the "
        "brokers' group.min.session.timeout.ms (6000 by default)",
    )
    transaction_timeout_ms: int = Field(
        60000,
        ge=1000,
        description="how long the broker waits before aborting a stalled "
        "transaction of a crashed instance that is never restarted",
    )
    commit_interval_ms: int = Field(
        200,
        ge=1,
        description="the longest a transaction stays open: it commits sooner when its stage has "
        "caught up with its input, or has BATCH_SIZE records",
    )
    max_record_bytes: int = Field(
        1_000_000,
        ge=10_000,
        description="the largest delivery or audit record (key, value and headers) the processor "
        "writes: a lead whose records would be larger is dead-lettered as too-large instead of "
        "stopping the stream. At most the broker's message.max.bytes",
    )

    def transactional_id_or_default(self) -> str:
        return self.transactional_id or f"{self.group_id}-{socket.gethostname()}"


class RegistrySettings(_Slice):
    """Where the Avro schemas are registered, and how to reach it."""

    schema_registry_url: str | None = Field(
        None, description="Confluent Schema Registry URL; without it, single-object encoding"
    )
    schema_registry_basic_auth_user_info: SecretStr | None = Field(
        None, description="USER:PASSWORD for the schema registry's HTTP basic authentication"
    )
    schema_registry_ssl_ca_location: Path | None = Field(
        None,
        description="CA certificate file (or folder) that the schema registry's certificate is "
        "checked against (default: the system's CAs)",
    )
    schema_registry_ssl_certificate_location: Path | None = Field(
        None, description="client certificate file for the schema registry (mutual TLS)"
    )
    schema_registry_ssl_key_location: Path | None = Field(
        None, description="client private key file for the schema registry (mutual TLS)"
    )

    @field_validator(
        "schema_registry_ssl_ca_location",
        "schema_registry_ssl_certificate_location",
        "schema_registry_ssl_key_location",
    )
    @classmethod
    def _exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.exists():
            raise ValueError("no such file or folder")
        return value

    @field_validator("schema_registry_basic_auth_user_info")
    @classmethod
    def _user_and_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and ":" not in value.get_secret_value():
            raise ValueError("takes USER:PASSWORD, with a colon between them")
        return value

    def schema_registry_config(self) -> dict[str, str]:
        """The schema registry client's settings besides its URL: basic authentication and TLS."""
        user_info = self.schema_registry_basic_auth_user_info
        return _given(
            {
                "basic.auth.user.info": user_info.get_secret_value() if user_info else None,
                "ssl.ca.location": self.schema_registry_ssl_ca_location,
                "ssl.certificate.location": self.schema_registry_ssl_certificate_location,
                "ssl.key.location": self.schema_registry_ssl_key_location,
            }
        )


class TopicSettings(_Slice):
    """The topics lead-router reads and writes, how it creates them, and how much of the config
    topic it reads: every command that touches a topic names it from here."""

    input_topic: str = Field("leads.submitted", description="topic of LeadSubmitted events")
    config_topic: str = Field("lead-router.config", description="compacted rules topic")
    config_history_topic: str = Field(
        "lead-router.config.history",
        description="every applied rules version whole (retained, not compacted): where a "
        "version whose parts were lost on the config topic is recovered from",
    )
    config_record_max_bytes: int = Field(
        1_000_000,
        ge=1_000,
        description="the largest config topic record (a rules part or version record) read; a "
        "larger one is refused, counted and logged",
    )
    audit_topic: str = Field("lead-router.audit", description="topic of every RoutingDecision")
    unroutable_topic: str = Field("lead-router.unroutable", description="unroutable leads")
    dlq_topic: str = Field("leads.submitted.dlq", description="dead-letter topic")
    delivery_topic_prefix: str = Field("deliveries.", description="prefix of partner topics")
    decide_topic: str = Field(
        "lead-router.decide",
        description="internal topic from the match stage to the decide stage: one LeadMatched "
        "record per valid lead; it has exactly one partition, so that the decide stage sees "
        "every lead and its state (caps, duplicates, rotation) is exact",
    )
    state_topic: str = Field(
        "lead-router.state",
        description="compacted changelog of the decide stage's state (rotation, cap counters, "
        "duplicate memory), one partition per decide topic partition",
    )
    state_history_days: int = Field(
        7,
        ge=0,
        le=366,
        description="days the state changelog keeps every change before compacting it "
        "(min.compaction.lag.ms of the state topic the processor creates): how far back replay "
        "finds routing's state (caps, rotation, duplicate memory) exactly as it was",
    )
    receipts_topic: str = Field(
        "deliveries.receipts",
        description="compacted topic of DeliveryReceipt records: delivery workers publish one per "
        "delivery and read them back to skip what they delivered before",
    )
    delivery_dlq_topic: str = Field(
        "lead-router.deliveries.dlq",
        description="dead-letter topic of delivery workers: records on a partner's topic that they "
        "will not send (not a LeadDelivery, for another partner, a partner the rules in force do "
        "not have or have inactive), with the reason in headers",
    )
    returns_topic: str = Field(
        "lead-router.returns",
        description="topic of DeliveryReturn records, keyed by delivery id: partners' systems and "
        "lead-router return write a return there; the processor credits it, or refuses it with "
        "the reason, in a receipt",
    )
    retry_topic_prefix: str = Field(
        "lead-router.retry.",
        description="prefix of the retry topics delivery workers create: <prefix><partner>.<n> "
        "holds the deliveries waiting for their n-th retry",
    )
    topic_partitions: int = Field(
        6, ge=1, description="partitions of the topics lead-router creates"
    )
    topic_replication_factor: int = Field(
        -1, description="replication factor of created topics (-1: the broker's default)"
    )

    def delivery_topic(self, partner_id: str) -> str:
        return f"{self.delivery_topic_prefix}{partner_id}"

    def retry_topic(self, partner_id: str, level: int) -> str:
        """Where a delivery to ``partner_id`` waits for its ``level``-th retry (from 1)."""
        return f"{self.retry_topic_prefix}{partner_id}.{level}"


class ProcessorSettings(_Slice):
    """What only the stream processor reads: its batches, its routing, and the schemas it reads."""

    state_dir: Path = Field(
        Path("~/.cache/lead-router/state"),
        description="folder of the local state stores (RocksDB, one per decide topic partition "
        "under <transactional id>/<state topic>/<partition>): a copy of the state topic that "
        "spares reading it again after a restart; safe to delete",
    )
    batch_size: int = Field(
        1000, ge=1, description="commit the open transaction after this many input records"
    )
    stages: Literal["both", "match", "decide"] = Field(
        "both",
        description="the stages this instance runs: both (in two threads, which share one "
        "core's worth of Python), or one alone, so that a decide instance and match instances "
        "each get a core of their own (instances of one deployment may differ here)",
    )
    routing_budget_ms: int = Field(
        1000,
        ge=1,
        description="a lead whose routing (enrich, decide, render) takes longer is stopped and "
        "dead-lettered as too-slow, and its partition moves on; a safety net: RE2 and bounded "
        "traces keep routing linear in the lead's size",
    )
    audit_trace_failures: int = Field(
        0,
        ge=0,
        description="non-matching assignments explained per tier in each audit record's trace "
        "(matches and exclusions always are; the rest are counted, and `audit show` explains "
        "them from the rules version and the lead). Explaining costs more CPU than routing",
    )
    writer_schemas_dir: Path | None = Field(
        None,
        description="a folder of self-contained .avsc writer schemas that publishers use and "
        "lead-router does not ship (such as a newer LeadSubmitted with one more optional field): "
        "single-object records written with them are read as the current schemas instead of "
        "being dead-lettered as unknown-fingerprint",
    )


class DeliverySettings(_Slice):
    """What only the delivery worker reads: how it sends to HTTP, mail and file destinations."""

    deliveries_dir: Path = Field(
        Path("."),
        description="deliver: the folder relative file:// destinations resolve against "
        "(file://deliveries/crm-east writes into <this folder>/deliveries/crm-east); every file "
        "destination must lie inside it",
    )
    delivery_attempts: int = Field(
        5, ge=1, description="deliver: tries per destination before a delivery counts as failed"
    )
    delivery_backoff_ms: int = Field(
        500,
        ge=0,
        description="deliver: the wait before the second try; it doubles with each try, up to 30 s",
    )
    delivery_timeout_ms: int = Field(
        10000, ge=1, description="deliver: how long one HTTP request or SMTP session may take"
    )
    smtp_host: str = Field("localhost", description="deliver: SMTP server for mailto: destinations")
    smtp_port: int = Field(25, ge=1, le=65535, description="deliver: the SMTP server's port")
    smtp_from: str = Field(
        "lead-router@localhost", description="deliver: sender address of delivery mails"
    )
    smtp_tls: Literal["starttls", "implicit", "none"] | None = Field(
        None,
        description="deliver: how mail is encrypted: starttls (the server must offer STARTTLS, "
        "else nothing is sent), implicit (TLS from the first byte, as on port 465), none (plain "
        "SMTP, only for a relay on the same host or network, and never with a password). "
        "Default: implicit on port 465, else starttls",
    )
    smtp_ca_file: Path | None = Field(
        None,
        description="deliver: CA certificates (PEM) the SMTP server's certificate must chain to "
        "(default: the system's)",
    )
    smtp_username: str | None = Field(
        None, description="deliver: SMTP user name; the worker logs in only when it is set"
    )
    smtp_password: SecretStr | None = Field(None, description="deliver: SMTP password")


class GeoSettings(_Slice):
    """The databases enrichment reads."""

    geo_ip_db: Path | None = Field(
        None, description="IP city database (from `lead-router geo fetch`) for IP geolocation"
    )
    postcodes_file: Path | None = Field(
        None, description="GeoNames postal code file for non-US postcode centroids"
    )


class MetricsSettings(_Slice):
    """Where /metrics, /healthz and /readyz are served, and when /healthz calls a loop stuck."""

    metrics_port: int = Field(
        9108, ge=0, le=65535, description="port of /metrics, /healthz, /readyz (0: off)"
    )
    metrics_host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="address /metrics, /healthz and /readyz listen on: 0.0.0.0 (or :: for IPv6) "
        "for Prometheus and probes from other hosts, as the container image sets it",
    )
    stall_timeout_s: int = Field(
        300,
        ge=1,
        description="a processing loop that has not come round for this long is stuck: "
        "/healthz answers 503 and the processor exits with code 6, for its supervisor to restart "
        "it (its retries of Kafka calls last up to 2 minutes)",
    )


class RulesLimitSettings(_Slice):
    """The bounds of a rules document: every command that reads one takes them."""

    rules_max_bytes: int = Field(
        DEFAULT_LIMITS.max_bytes,
        ge=1,
        description="rules documents: the largest size in bytes, as written and as JSON with "
        "YAML aliases expanded",
    )
    rules_max_partners: int = Field(
        DEFAULT_LIMITS.max_partners, ge=1, description="rules documents: the most partners"
    )
    rules_max_profiles: int = Field(
        DEFAULT_LIMITS.max_profiles, ge=1, description="rules documents: the most profiles"
    )
    rules_max_assignments: int = Field(
        DEFAULT_LIMITS.max_assignments,
        ge=1,
        description="rules documents: the most assignments, all profiles together",
    )
    rules_max_list_items: int = Field(
        DEFAULT_LIMITS.max_list_items,
        ge=1,
        description="rules documents: the most items in one list (in_list values, sources, "
        "destinations, OR-sets, conditions of a set) or entries in one mapping",
    )
    rules_max_string_chars: int = Field(
        DEFAULT_LIMITS.max_string_chars,
        ge=1,
        description="rules documents: the most characters in one string",
    )
    rules_max_alias_expansion: int = Field(
        DEFAULT_LIMITS.max_alias_expansion,
        ge=1,
        description="rules documents: how many times over YAML aliases may multiply the values "
        "written",
    )
    rules_max_index_bytes: int = Field(
        DEFAULT_LIMITS.max_index_bytes,
        ge=1,
        description="rules documents: the condition indexes' estimated size in bytes (per "
        "category of a profile: its OR-sets times the distinct values its conditions name, bits)",
    )

    lead_id_memory_days: int = Field(
        30,
        ge=1,
        le=366,
        description="routing: how many days a decided lead id is remembered; the same lead id "
        "again within them is a duplicate of itself (run and dry-run decide alike)",
    )

    def rules_limits(self) -> RulesLimits:
        """The rules document limits these settings give (``rules_max_*``)."""
        return RulesLimits(
            max_bytes=self.rules_max_bytes,
            max_partners=self.rules_max_partners,
            max_profiles=self.rules_max_profiles,
            max_assignments=self.rules_max_assignments,
            max_list_items=self.rules_max_list_items,
            max_string_chars=self.rules_max_string_chars,
            max_alias_expansion=self.rules_max_alias_expansion,
            max_index_bytes=self.rules_max_index_bytes,
        )


class ConsoleSettings(_Slice):
    """The operators' web console: where it listens, its index, who may sign in, its cookies."""

    console_host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="address the console listens on (0.0.0.0 behind a proxy that terminates TLS)",
    )
    console_port: int = Field(8080, ge=0, le=65535, description="port the console listens on")
    console_database_url: SecretStr | None = Field(
        None,
        description="the console's index: sqlite:///PATH, or postgresql://USER:PASSWORD@HOST/DB "
        "for a database several consoles share (default: console.sqlite3 in the cache folder)",
    )
    console_users_file: Path | None = Field(
        None,
        description="who may sign in: one NAME:ROLE:HASH line each (role viewer or editor; "
        "HASH from `lead-router console --hash-password`)",
    )
    console_users: SecretStr | None = Field(
        None,
        description="the same NAME:ROLE:HASH entries inline, separated by new lines or ';'",
    )
    console_secret_key: SecretStr | None = Field(
        None,
        description="key that signs session cookies; the same on every console behind one "
        "address (default: a new random key each start, which signs everyone out)",
    )
    console_cookie_secure: bool = Field(
        True,
        description="send the session cookie over HTTPS only (browsers make an exception for "
        "localhost); false only behind a trusted plain-HTTP network",
    )
    console_login_attempts: int = Field(
        5,
        ge=1,
        description="failed sign-ins allowed per user name and per client address in 5 minutes",
    )
    console_session_hours: int = Field(
        8, ge=1, le=24 * 30, description="hours a sign-in lasts before asking again"
    )
    console_what_if_timeout_s: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="seconds a what-if on the Draft page may run before it stops and says so "
        "(one runs at a time per console; `lead-router replay` has no limit)",
    )


class LoggingSettings(_Slice):
    """How much the long-running commands log."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")


SLICES: dict[str, type[_Slice]] = {
    "kafka": KafkaSettings,
    "registry": RegistrySettings,
    "topics": TopicSettings,
    "processor": ProcessorSettings,
    "delivery": DeliverySettings,
    "geo": GeoSettings,
    "metrics": MetricsSettings,
    "rules": RulesLimitSettings,
    "logging": LoggingSettings,
    "console": ConsoleSettings,
}
"""Each slice of ``Settings`` by its attribute name."""

FIELDS: dict[str, str] = {
    name: slice_name for slice_name, model in SLICES.items() for name in model.model_fields
}
"""Each setting by its flat name (``audit_topic``), with the slice that holds it (``topics``)."""


class Settings(BaseModel):
    """Every slice, for the composition roots (``run``, ``deliver``, ``demo``) that wire several.

    It is built with flat names too (``Settings(audit_topic="audit")``): each goes to its slice,
    and a slice not named is read from the environment whole.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kafka: KafkaSettings
    registry: RegistrySettings
    topics: TopicSettings
    processor: ProcessorSettings
    delivery: DeliverySettings
    geo: GeoSettings
    metrics: MetricsSettings
    rules: RulesLimitSettings
    logging: LoggingSettings
    console: ConsoleSettings

    def __init__(self, **values: Any) -> None:
        """Takes slices (``kafka=KafkaSettings(...)``) or flat names (``group_id="g"``): the
        signature says so, where the fields alone would admit only slices."""
        super().__init__(**values)

    @model_validator(mode="before")
    @classmethod
    def _to_slices(cls, data: Any) -> Any:
        """Routes flat names to their slices; a name of no slice is left for ``extra`` to refuse.

        Every slice not given is read here, from the environment: so none is required though
        none has a default, and one ``ValidationError`` tells every invalid variable of them all.
        """
        if not isinstance(data, dict):
            return data
        routed: dict[str, Any] = {name: {} for name in SLICES}
        for name, value in data.items():
            slice_name = FIELDS.get(name)
            if slice_name is None:
                routed[name] = value
            else:
                routed[slice_name][name] = value
        return routed

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with these settings (flat names) changed, unvalidated as ``model_copy`` is."""
        updates: dict[str, dict[str, Any]] = {}
        for name, value in changes.items():
            if name not in FIELDS:
                raise KeyError(f"no setting {name!r}")
            updates.setdefault(FIELDS[name], {})[name] = value
        return self.model_copy(
            update={
                slice_name: getattr(self, slice_name).model_copy(update=values)
                for slice_name, values in updates.items()
            }
        )

    def environment(self) -> dict[str, str]:
        """These settings as the ``LEAD_ROUTER_*`` variables that give them to another process."""
        env: dict[str, str] = {}
        for slice_name in SLICES:
            for name, value in getattr(self, slice_name):
                if value is not None:
                    shown = value.get_secret_value() if isinstance(value, SecretStr) else value
                    env[f"{ENV_PREFIX}{name.upper()}"] = str(shown)
        return env


def _given(optional: dict[str, Any]) -> dict[str, str]:
    """The client settings that have a value, as the strings clients take."""
    return {key: str(value) for key, value in optional.items() if value is not None}


def load_settings(
    overrides: dict[str, Any] | None = None, read: Collection[str] = tuple(SLICES)
) -> Settings:
    """Settings from flags (``overrides``), environment and defaults; errors name flag and var.

    Only the slices named in ``read`` come from the environment; the others keep their defaults
    unvalidated, so that a variable meant for another command cannot stop this one.
    """
    unread: dict[str, Any] = {
        name: model.model_construct() for name, model in SLICES.items() if name not in read
    }
    try:
        return Settings(**unread, **(overrides or {}))
    except ValidationError as error:
        raise InvalidInput(_invalid(error)) from None


def _invalid(error: ValidationError) -> str:
    """Each problem with the flag and variable of its setting (the last name in its location)."""
    problems = []
    for item in error.errors():
        names = [str(part) for part in item["loc"] if isinstance(part, str)]
        name = names[-1] if names else "?"
        flag = "--" + name.replace("_", "-")
        problems.append(f"{flag} / {ENV_PREFIX}{name.upper()}: {item['msg']}")
    return "invalid settings:\n  " + "\n  ".join(problems)
