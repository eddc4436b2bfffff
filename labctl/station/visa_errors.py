"""Why a VISA connection could not be made, in full and with the fix, on one line.

pyvisa's own messages lose the reason (``Could not open VISA library:`` with nothing after the
colon when no vendor VISA is installed), or mislead (a serial port name such as ``COM3`` is
opened as a generic resource: a PyVISA warning, then ``'read_termination' is not a valid
attribute``). Here a resource string is checked before pyvisa sees it, line terminations are
set only on resources that have them, and each failure is explained with what to do.
"""

from __future__ import annotations

import re
from typing import Any

#: Message-based resource classes (they have read/write terminations); labctl's instruments are
#: all message-based.
MESSAGE_BASED_CLASSES = ("INSTR", "SOCKET", "RAW")
#: What resource strings look like, for messages.
RESOURCE_EXAMPLES = ("TCPIP::192.168.1.20::5025::SOCKET, TCPIP::192.168.1.20::INSTR, "
                     "GPIB0::18::INSTR, ASRL/dev/ttyUSB0::INSTR, ASRL3::INSTR")
_SERIAL_NAME = re.compile(r"(?i)^(COM(\d+)|/dev/tty\S+|tty\S+)$")
_VENDOR_VISA = ("NI-VISA, Keysight IO Libraries Suite or R&S VISA")
_USE_PYVISA_PY = ("or set visa_library = \"@py\" in the station file's [station] table to use "
                  "pyvisa-py (TCPIP and serial instruments)")


def resource_problem(resource: str, visa_library: str) -> str | None:
    """Why ``resource`` cannot be a VISA resource string of a labctl instrument (None: it can
    be, or it may be an alias that only the vendor VISA library knows)."""
    from pyvisa import rname

    try:
        parsed = rname.parse_resource_name(resource)
    except rname.InvalidResourceName:
        serial = _SERIAL_NAME.match(resource.strip())
        if serial:
            number = serial.group(2)
            visa_name = f"ASRL{number}::INSTR" if number else f"ASRL{resource.strip()}::INSTR"
            return (f"{resource!r} is a serial port name, not a VISA resource string: write "
                    f"{visa_name}")
        if _backend(visa_library) == "py":  # pyvisa-py knows no aliases
            return f"not a VISA resource string (for example {RESOURCE_EXAMPLES})"
        return None
    if parsed.resource_class not in MESSAGE_BASED_CLASSES:
        return (f"a {parsed.resource_class} resource is not an instrument connection; labctl's "
                f"instruments are INSTR or SOCKET resources (for example {RESOURCE_EXAMPLES})")
    return None


def open_kwargs(resource: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` for opening ``resource``, without the line terminations when its resource
    type has none (pyvisa refuses them there)."""
    from pyvisa import rname

    try:
        resource_class = rname.parse_resource_name(resource).resource_class
    except rname.InvalidResourceName:
        return kwargs  # an alias: the vendor library decides what it is
    if resource_class in MESSAGE_BASED_CLASSES:
        return kwargs
    return {k: v for k, v in kwargs.items() if k not in ("read_termination", "write_termination")}


def open_failure(exc: BaseException, resource: str, visa_library: str) -> str:
    """The full reason ``exc`` was raised while opening ``resource``, and what to do, one line."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    lowered = text.lower()
    if "could not open visa library" in lowered or name == "LibraryError":
        detail = text.split(":", 1)[1].strip() if ":" in text else ""
        if _backend(visa_library) in ("ivi", "") and not _library_path(visa_library):
            return (f"no VISA library found (visa_library = {visa_library or '@ivi'!r} loads a "
                    f"vendor VISA: {_VENDOR_VISA}){': ' + detail if detail else ''}; install "
                    f"one, {_USE_PYVISA_PY}")
        return (f"cannot load the VISA library {_library_path(visa_library)!r}"
                f"{': ' + detail if detail else ''}; check the path in visa_library, install "
                f"the vendor VISA ({_VENDOR_VISA}), {_USE_PYVISA_PY}")
    if "please install" in lowered:  # pyvisa-py: an optional package for this interface
        return f"{text.rstrip('.')} (pyvisa-py needs it for this resource type)"
    if name in ("SerialException",) or "could not open port" in lowered:
        return (f"{name}: {text}; check that the serial adapter is plugged in, the port name "
                "(ASRL/dev/ttyUSB0::INSTR, ASRL3::INSTR for COM3) and that no other program "
                "holds the port")
    if name == "VisaIOError" and "RSRC_NFOUND" in text:
        return f"{text}; VISA does not know this resource: check the resource string"
    if isinstance(exc, OSError) and resource.upper().startswith("TCPIP") and "::SOCKET" not in \
            resource.upper():
        return (f"{name}: {text}; cannot reach the VXI-11 instrument: check its address, or for "
                "a raw socket write TCPIP::<host>::<port>::SOCKET")
    return f"{name}: {text}"


def failure_fix(message: str) -> str:
    """What to do about an instrument failure reported as ``message`` (``station check``)."""
    lowered = message.lower()
    if "visa library" in lowered or "please install" in lowered:
        return "install the missing VISA backend named above, or use visa_library = \"@py\""
    if ("not a visa resource string" in lowered or "serial port name" in lowered
            or "rsrc_nfound" in lowered or "resource is not an instrument" in lowered):
        return f"correct the resource string in the station file ({RESOURCE_EXAMPLES})"
    if "timed out" in lowered or "timeout" in lowered:
        return ("the instrument did not answer in time: check that it is on and in remote "
                "mode, the cable, its line termination (\\n) and timeout_s in the station file")
    if "refused" in lowered or "reset" in lowered or "cannot reach" in lowered:
        return ("nothing accepts the connection there: check the instrument is on, its address "
                "and port, and its remote interface (LAN/socket) is enabled")
    if "identif" in lowered:
        return ("another instrument answers at this resource: check the cabling and the "
                "resource string of each role")
    if "could not open port" in lowered or "serial" in lowered:
        return "check the serial adapter, the port name and that no other program holds it"
    return "check the instrument, its cable and its entry in the station file"


def _backend(visa_library: str) -> str:
    return visa_library.rpartition("@")[2].strip().lower() if "@" in visa_library else "ivi"


def _library_path(visa_library: str) -> str:
    return visa_library.rpartition("@")[0].strip() if "@" in visa_library else visa_library
