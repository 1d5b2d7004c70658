"""The schema registry as the codec needs it: a writer schema by id, an id for our schema.

Every failure of the client is turned into a ``DecodeError`` or ``EncodeError`` with a reason, so
the caller can tell a record at fault (an id the registry does not have) from a registry at fault
(down, unauthorised, overloaded): only the first is a reason to dead-letter a record.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from confluent_kafka.schema_registry import (
    Schema,
    SchemaReference,
    SchemaRegistryClient,
    SchemaRegistryError,
)
from fastavro.types import NamedSchemas

from processor.errors import InvalidInput
from processor.wire.errors import DecodeError, EncodeError
from processor.wire.schemas import WireSchema, parse_writer_schema

_NOT_FOUND = 404
_REFUSALS = frozenset((404, 409, 422))
"""What the registry answers when it will not give a schema an id: not registered (and
registration is off), incompatible with the subject's earlier versions, not a valid schema. Every
other failure (401, 403, 429, 5xx) is the registry's, and may pass."""


def subject_for(topic: str) -> str:
    """The subject of a topic's values under the TopicNameStrategy: ``<topic>-value``."""
    return f"{topic}-value"


def connect(url: str, config: Mapping[str, Any] | None = None) -> SchemaRegistryClient:
    """A client for the registry at ``url``; ``config`` adds the client's other settings
    (``basic.auth.user.info``, ``ssl.ca.location``, ``ssl.certificate.location``,
    ``ssl.key.location``). Settings the client cannot use (a URL that is not http(s), a file
    missing or not a certificate) raise ``InvalidInput``, naming no secret.

    A ``mock://`` URL gives confluent-kafka's in-memory registry, which lives as long as the
    client does.
    """
    try:
        return SchemaRegistryClient.new_client({**(config or {}), "url": url})
    except (ValueError, TypeError, OSError) as error:
        reason = _unusable(error).replace(url, _without_password(url))
        raise InvalidInput(f"cannot use the schema registry settings: {reason}") from None


def _unusable(error: Exception) -> str:
    """Why the client could not be built from its settings, in words that point at the fix."""
    if isinstance(error, ssl.SSLError):
        return (
            f"{error}: a certificate or key file that is not PEM, or a key that does not belong "
            "to the certificate"
        )
    return str(error)


def _without_password(url: str) -> str:
    """``url`` with the password of its user info, if any, blanked out."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


class Registry:
    """Reads writer schemas by id and finds our schemas' ids, through one client."""

    def __init__(self, client: SchemaRegistryClient, *, auto_register: bool = True) -> None:
        self._client = client
        self._auto_register = auto_register

    def writer_schema(self, schema_id: int) -> WireSchema:
        """The Avro schema registered under ``schema_id``, the schemas it refers to resolved."""
        try:
            registered = self._client.get_schema(schema_id)
            dependencies = self._dependencies(registered.references or ())
        except SchemaRegistryError as error:
            if error.http_status_code == _NOT_FOUND:
                raise DecodeError(
                    "unknown-schema-id",
                    f"the registry has no schema with id {schema_id} (or one it refers to)",
                ) from error
            raise _unavailable_for_decoding(schema_id, error) from error
        except Exception as error:  # the client's HTTP, OAuth and OS errors: none is the record's
            raise _unavailable_for_decoding(schema_id, error) from error
        if registered.schema_type not in (None, "AVRO"):
            raise DecodeError(
                "schema-mismatch",
                f"schema {schema_id} is a {registered.schema_type} schema, not Avro",
            )
        named: NamedSchemas = {}
        try:
            for dependency in dependencies:
                parse_writer_schema(json.loads(dependency.schema_str or ""), named)
            return parse_writer_schema(json.loads(registered.schema_str or ""), named)
        except ValueError as error:
            raise DecodeError("schema-mismatch", f"schema {schema_id}: {error}") from error

    def schema_id(self, subject: str, schema: WireSchema) -> int:
        """The id of ``schema`` under ``subject``: registered if need be and allowed."""
        candidate = Schema(schema.text, "AVRO")
        schema_id: int | None
        try:
            if self._auto_register:
                schema_id = self._client.register_schema(subject, candidate)
            else:
                schema_id = self._client.lookup_schema(subject, candidate).schema_id
        except SchemaRegistryError as error:
            if error.http_status_code in _REFUSALS:
                raise EncodeError(
                    "registry-rejected",
                    f"the registry refused {schema.name} under {subject}: {error}",
                ) from error
            raise _unavailable_for_encoding(subject, error) from error
        except Exception as error:  # as in writer_schema: the registry's failure, not ours
            raise _unavailable_for_encoding(subject, error) from error
        if schema_id is None:
            raise EncodeError("registry-rejected", f"the registry gave {subject} no schema id")
        return int(schema_id)

    def _dependencies(
        self, references: Iterable[SchemaReference], seen: set[tuple[str, int]] | None = None
    ) -> list[Schema]:
        """The schemas that references name, each once and after the schemas it refers to."""
        seen = set() if seen is None else seen
        found: list[Schema] = []
        for reference in references:
            if reference.subject is None or reference.version is None:
                continue  # nothing to fetch: parsing then names the type that is missing
            if (reference.subject, reference.version) in seen:
                continue
            seen.add((reference.subject, reference.version))
            dependency = self._client.get_version(reference.subject, reference.version).schema
            found += self._dependencies(dependency.references or (), seen)
            found.append(dependency)
        return found


def _unavailable_for_decoding(schema_id: int, error: Exception) -> DecodeError:
    return DecodeError(
        "registry-unavailable", f"cannot fetch schema {schema_id} from the registry: {error}"
    )


def _unavailable_for_encoding(subject: str, error: Exception) -> EncodeError:
    return EncodeError(
        "registry-unavailable", f"cannot get a schema id for {subject} from the registry: {error}"
    )
