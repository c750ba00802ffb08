"""The exceptions ews raises, in one tree.

Every error that a bad record, a bad file or a bad configuration can cause
derives from :class:`EwsError`. The pipeline catches :class:`InputError` per
record and sends the record to the dead-letter topic with ``reason_class``
and the message; anything else is a bug and is logged as one::

    EwsError
    ├── InputError                 a record or file that cannot be used
    │   ├── ParseError             bytes that do not decode (JSON, NetCDF, HDF5, XML)
    │   ├── SchemaError            decoded, but not of its declared schema
    │   ├── UnitError              a unit that is missing, unknown or mismatched
    │   ├── PhysicalError          a value that cannot be real (negative rain, ...)
    │   ├── FutureTimeError        a timestamp later than the clock allows
    │   └── UnknownReferenceError  a station, town or grid nobody declared
    ├── CapError                   a CAP message that fails the CAP 1.2 schema
    ├── ConfigError                a rule set, manifest or registry that is wrong
    └── BrokerError                the local Kafka broker cannot be run or reached

Messages say which input was wrong, what was found and what was expected.
"""

from __future__ import annotations


class EwsError(Exception):
    """Base of every error ews raises on purpose."""


class InputError(EwsError):
    """A record or a file that ews cannot use; it goes to the dead-letter topic."""

    reason_class = "input"


class ParseError(InputError):
    """Bytes that do not decode as the format they claim."""

    reason_class = "parse"


class SchemaError(InputError):
    """A decoded message that does not match its schema."""

    reason_class = "schema"


class UnitError(InputError):
    """A value in a unit that is missing, unknown or not the one expected."""

    reason_class = "unit"


class PhysicalError(InputError):
    """A value outside what nature allows (negative rain, a 20 m stage jump)."""

    reason_class = "physical"


class FutureTimeError(InputError):
    """A timestamp later than the clock (plus its allowed skew)."""

    reason_class = "future"


class UnknownReferenceError(InputError):
    """A record that names a station, town or grid that nobody declared."""

    reason_class = "unknown"


class CapError(EwsError):
    """A CAP message that fails validation against the CAP 1.2 schema."""

    reason_class = "cap"


class ConfigError(EwsError):
    """A rule set, scenario manifest or registry file that is malformed."""


class BrokerError(EwsError):
    """The local Kafka broker could not be prepared, started or reached."""
