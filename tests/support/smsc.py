"""An SMSC on 127.0.0.1 for the smpp provider's tests: the smpp34 package's SMPP 3.4 server, run by
its own asyncio loop in a background thread, usable from synchronous tests.

smpp34's server does the SMPP: it answers binds, hands over every submit_sm for this class to accept
(with a message id) or refuse (with a status), answers enquire_link and unbind, pushes deliver_sm
(receipts, texts from phones) and reports the ESME's deliver_sm_resp status. What its Python API
cannot do is done by a gate in front of it, a relay on the public port that reads PDU frames:

- check credentials: smpp34 accepts every bind, so the gate answers a wrong system_id or password
  itself (ESME_RINVSYSID, ESME_RINVPASWD) and closes, as an SMSC does;
- stop like a crash: ``stop()`` cuts every connection at once and the port refuses connections
  until ``restart()`` listens on the same port again (with a fresh smpp34 server behind);
- play a dead peer: ``silence()`` swallows the ESME's enquire_link, so no enquire_link_resp comes;
- speak TLS, when given a server ``ssl.SSLContext``;
- work around an smpp34 bug: its server takes deliver_sm_resp only on transmitter and transceiver
  binds, so a receiver bind is passed to it as a transceiver bind (and its answer renamed back).

    with Smsc(password="secret") as smsc:
        provider = SmppProvider("smpp-main", settings(smsc), "secret", inbox, clock, parts)
        provider.send(page)
        [submit] = smsc.wait_for(1)
        assert submit.text == page.text
        smsc.receipt(submit.message_id, stat="DELIVRD")

The GSM 03.38 table here is written apart from the adapter's, so a test that decodes what the SMSC
recorded checks the adapter's encoder against a second reading of the standard.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
from collections import deque
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, TypeVar

import smpp34

T = TypeVar("T")

ROK = 0x00
RINVPASWD = 0x0E
RINVSYSID = 0x0F
RTHROTTLED = 0x58
RMSGQFUL = 0x14
RINVDSTADR = 0x0B
RSYSERR = 0x08

_RECEIVER, _TRANSMITTER, _TRANSCEIVER = 0x00000001, 0x00000002, 0x00000009
_BINDS = {_RECEIVER: "receiver", _TRANSMITTER: "transmitter", _TRANSCEIVER: "transceiver"}
_ENQUIRE_LINK = 0x00000015
_STATES = {"ENROUTE": 1, "DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6, "UNKNOWN": 7}
_STATES["REJECTD"] = 8

# GSM 03.38 default alphabet, code by code (0x1B is the escape), and its extension table.
_GSM = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|"}
_GSM_EXT[0x65] = "€"
_GSM_CODE = {char: code for code, char in enumerate(_GSM) if code != 0x1B}
_GSM_EXT_CODE = {char: code for code, char in _GSM_EXT.items()}

Coding = Literal["gsm", "latin1", "ucs2"]
_DATA_CODING = {"gsm": 0x00, "latin1": 0x03, "ucs2": 0x08}


def gsm_decode(data: bytes) -> str:
    out, escape = [], False
    for octet in data:
        if escape:
            out.append(_GSM_EXT[octet])
            escape = False
        elif octet == 0x1B:
            escape = True
        else:
            out.append(_GSM[octet])
    if escape:
        raise ValueError("GSM-7 text ends on an escape")
    return "".join(out)


def gsm_encode(text: str) -> bytes:
    return b"".join(_gsm_char(char) for char in text)


def _gsm_char(char: str) -> bytes:
    if char in _GSM_CODE:
        return bytes((_GSM_CODE[char],))
    return bytes((0x1B, _GSM_EXT_CODE[char]))


def text_of(payload: bytes, data_coding: int) -> str:
    if data_coding == 0x00:
        return gsm_decode(payload)
    if data_coding == 0x08:
        return payload.decode("utf-16-be")  # strict: a cut surrogate pair fails the test
    if data_coding == 0x03:
        return payload.decode("latin-1")
    raise ValueError(f"the test SMSC does not read data_coding 0x{data_coding:02x}")


@dataclass(frozen=True)
class Concat:
    reference: int
    total: int
    seq: int


@dataclass(frozen=True)
class Submit:
    """One submit_sm as the SMSC received it, and how it answered."""

    number: int  # 1-based, in order of arrival
    session: str
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    esm_class: int
    data_coding: int
    registered_delivery: int
    short_message: bytes
    concat: Concat | None  # from the user data header, when esm_class says there is one
    payload: bytes  # short_message without its user data header
    message_id: str | None  # None when refused
    status: int

    @property
    def text(self) -> str:
        return text_of(self.payload, self.data_coding)


@dataclass(frozen=True)
class Bind:
    kind: str  # transceiver, transmitter or receiver
    system_id: str
    status: int


def _udh(short_message: bytes) -> tuple[Concat | None, bytes]:
    length = short_message[0]
    header, payload = short_message[1 : 1 + length], short_message[1 + length :]
    concat, position = None, 0
    while position < len(header):
        iei, size = header[position], header[position + 1]
        value = header[position + 2 : position + 2 + size]
        if iei == 0x00:
            concat = Concat(value[0], value[1], value[2])
        elif iei == 0x08:
            concat = Concat(int.from_bytes(value[:2], "big"), value[2], value[3])
        position += 2 + size
    return concat, payload


def whole_text(submits: Sequence[Submit]) -> str:
    """The text of a message sent in parts, put back in order by the parts' own headers."""
    ordered = sorted(submits, key=lambda submit: submit.concat.seq if submit.concat else 0)
    return text_of(b"".join(submit.payload for submit in ordered), ordered[0].data_coding)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _read_pdu(reader: asyncio.StreamReader) -> bytes:
    prefix = await reader.readexactly(4)
    (length,) = struct.unpack(">L", prefix)
    return prefix + await reader.readexactly(length - 4)


def _c_strings(body: bytes, count: int) -> list[str]:
    return [part.decode("latin-1") for part in body.split(b"\x00", count)[:count]]


def _quiet_tls(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # A client refusing the certificate is what a TLS test expects; anything else is reported as usual.
    if not isinstance(context.get("exception"), ssl.SSLError):
        loop.default_exception_handler(context)


class Smsc:
    host = "127.0.0.1"

    def __init__(
        self,
        *,
        port: int = 0,
        system_id: str = "memoguard",
        password: str = "secret",
        tls: ssl.SSLContext | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.port = port or free_port()
        self.system_id = system_id
        self.password = password
        self.timeout = timeout
        self._tls = tls
        self._changed = threading.Condition()
        self._submits: list[Submit] = []
        self._binds: list[Bind] = []
        self._answers: list[int] = []  # deliver_sm_resp statuses, in order
        self._sessions: dict[str, Any] = {}  # session id -> smpp34.Esme
        self._refusals: deque[int] = deque()
        self._holding = 0
        self._held: list[Any] = []  # smpp34.SubmitSmEvent left unanswered
        self._enquiries = 0
        self._silent = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None  # smpp34.Server
        self._events: asyncio.Task[None] | None = None
        self._gate: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._relays: set[asyncio.Task[None]] = set()

    # --- life ---------------------------------------------------------------------------------------

    def __enter__(self) -> Smsc:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Listen on ``port``: a fresh smpp34 server behind the gate. Returns once connections are accepted."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._loop.set_exception_handler(_quiet_tls)
            self._thread = threading.Thread(target=self._loop.run_forever, name="test smsc", daemon=True)
            self._thread.start()
        self._run(self._start())

    def stop(self) -> None:
        """Go down as a crash would: every connection cut at once, new ones refused."""
        self._run(self._stop())
        with self._changed:
            self._sessions.clear()
            self._changed.notify_all()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        if self._loop is None:
            return
        self.stop()
        loop, thread = self._loop, self._thread
        loop.call_soon_threadsafe(loop.stop)
        assert thread is not None
        thread.join(self.timeout)
        loop.close()
        self._loop = None

    async def _start(self) -> None:
        if self._server is not None:
            return  # running already
        inner = free_port()
        self._server = smpp34.Server(self.host, inner, system_id="TESTSMSC")
        await self._server.start()
        self._events = asyncio.ensure_future(self._pump(self._server))
        self._gate = await asyncio.start_server(
            lambda reader, writer: self._relay(reader, writer, inner), self.host, self.port, ssl=self._tls
        )

    async def _stop(self) -> None:
        with self._changed:
            held, self._held = self._held, []
        for event in held:
            event.reject(RSYSERR)
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.close()
        # Aborted connections end their relays; cancelling a connection's task would make asyncio log it.
        for writer in list(self._connections):
            writer.transport.abort()
        await asyncio.wait_for(asyncio.gather(*self._relays, return_exceptions=True), self.timeout)
        if gate is not None:
            await gate.wait_closed()
        if self._events is not None:
            self._events.cancel()
            await asyncio.gather(self._events, return_exceptions=True)
            self._events = None
        if self._server is not None:
            await self._server.stop()
            self._server = None

    def _run(self, work: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        assert self._loop is not None, "the SMSC is not started"
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout or self.timeout)

    # --- what the tests look at ---------------------------------------------------------------------

    @property
    def submits(self) -> list[Submit]:
        with self._changed:
            return list(self._submits)

    @property
    def binds(self) -> list[Bind]:
        with self._changed:
            return list(self._binds)

    @property
    def answers(self) -> list[int]:
        """The command_status of every deliver_sm_resp the ESMEs sent, in order."""
        with self._changed:
            return list(self._answers)

    def wait_for(self, count: int, timeout: float | None = None) -> list[Submit]:
        """The first ``count`` submit_sm, once they have arrived; AssertionError after ``timeout``."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._submits) >= count, timeout or self.timeout):
                raise AssertionError(f"expected {count} submit_sm, got {len(self._submits)}: {self._submits}")
            return self._submits[:count]

    def wait_binds(self, count: int, timeout: float | None = None) -> list[Bind]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._binds) >= count, timeout or self.timeout):
                raise AssertionError(f"expected {count} binds, got {self._binds}")
            return self._binds[:count]

    def wait_sessions(self, count: int, timeout: float | None = None) -> None:
        """Wait until exactly ``count`` ESME sessions are bound (0: every ESME has gone)."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._sessions) == count, timeout or self.timeout):
                raise AssertionError(f"expected {count} bound sessions, got {len(self._sessions)}")

    # --- what the tests make it do ------------------------------------------------------------------

    def refuse(self, status: int, count: int = 1, *, after: int = 0) -> None:
        """Accept ``after`` more submit_sm, then answer the next ``count`` with ``status``."""
        with self._changed:
            self._refusals.extend([ROK] * after + [status] * count)

    def hold(self, count: int = 1) -> None:
        """Leave the next ``count`` submit_sm unanswered until ``release``: a slow SMSC."""
        with self._changed:
            self._holding += count

    def release(self) -> None:
        """Accept every held submit_sm now, late."""
        with self._changed:
            held, self._held = self._held, []
        for event in held:
            self._loop_call(event.accept, "LATE")

    def wait_enquiries(self, count: int, timeout: float | None = None) -> None:
        """Wait until the ESMEs have sent ``count`` enquire_link (swallowed ones included)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._enquiries >= count, timeout or self.timeout):
                raise AssertionError(f"expected {count} enquire_link, got {self._enquiries}")

    def silence(self, silent: bool = True) -> None:
        """Swallow (or, with False, pass on again) every enquire_link the ESMEs send: a dead peer."""
        with self._changed:
            self._silent = silent

    def unbind(self) -> None:
        """Send unbind to every bound session, as an SMSC going into maintenance does."""
        with self._changed:
            sessions = list(self._sessions.values())
        for esme in sessions:
            self._run(self._unbind(esme))

    def receipt(
        self,
        message_id: str,
        stat: str = "DELIVRD",
        err: str = "000",
        *,
        text: bool = True,
        tlvs: bool = True,
        network_error: int | None = None,
    ) -> int:
        """Push a delivery receipt for a recorded message; returns the ESME's deliver_sm_resp status."""
        [submit] = [submit for submit in self.submits if submit.message_id == message_id]
        stamp = datetime.now(UTC).strftime("%y%m%d%H%M")
        body = b""
        if text:
            delivered = "001" if stat == "DELIVRD" else "000"
            words = submit.text[:20].encode("ascii", "replace").decode()
            body = (
                f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{stamp} done date:{stamp} "
                f"stat:{stat} err:{err} text:{words}"
            ).encode()
        options = []
        if tlvs:
            options.append(smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, message_id.encode() + b"\x00"))
            options.append(smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes((_STATES[stat],))))
            if network_error is not None:
                options.append(
                    smpp34.Tlv(smpp34.TLV_NETWORK_ERROR_CODE, bytes((3,)) + network_error.to_bytes(2, "big"))
                )
        return self.deliver_pdu(
            short_message=body,
            source_addr=submit.destination_addr,
            source_addr_ton=submit.dest_addr_ton,
            source_addr_npi=submit.dest_addr_npi,
            destination_addr=submit.source_addr,
            esm_class=0x04,
            tlvs=options,
        )

    def deliver(
        self,
        text: str,
        *,
        sender: str = "33612345678",
        sender_ton: int = 1,
        recipient: str = "memoguard",
        coding: Coding = "gsm",
        parts: int = 1,
        order: Sequence[int] | None = None,
        reference: int = 42,
        wide_reference: bool = False,
    ) -> list[int]:
        """Send a text from a phone, in ``parts`` parts with a concatenation header (16-bit reference
        with ``wide_reference``), in ``order`` (1-based part numbers); returns each deliver_sm_resp status."""
        units = [self._encode(char, coding) for char in text]
        if parts == 1:
            chunks = [b"".join(units)]
        else:
            size = -(-len(units) // parts)
            chunks = [b"".join(units[index : index + size]) for index in range(0, len(units), size)]
            assert len(chunks) == parts, f"{text!r} does not split into {parts} parts"
        answers = []
        for seq in order or range(1, len(chunks) + 1):
            message = chunks[seq - 1]
            esm_class = 0
            if parts > 1:
                if wide_reference:
                    header = bytes((6, 0x08, 4)) + reference.to_bytes(2, "big") + bytes((parts, seq))
                else:
                    header = bytes((5, 0x00, 3, reference, parts, seq))
                message, esm_class = header + message, 0x40
            answers.append(
                self.deliver_pdu(
                    short_message=message,
                    source_addr=sender,
                    source_addr_ton=sender_ton,
                    source_addr_npi=1,
                    destination_addr=recipient,
                    esm_class=esm_class,
                    data_coding=_DATA_CODING[coding],
                )
            )
        return answers

    def deliver_pdu(self, *, short_message: bytes = b"", destination_addr: str = "memoguard", **fields: Any) -> int:
        """Push any deliver_sm to the receiving session; returns the ESME's deliver_sm_resp status."""
        esme = self._receiver()
        code = self._run(self._deliver(esme, destination_addr, short_message, fields))
        with self._changed:
            self._answers.append(code)
            self._changed.notify_all()
        return code

    @staticmethod
    def _encode(char: str, coding: Coding) -> bytes:
        if coding == "gsm":
            return _gsm_char(char)
        if coding == "latin1":
            return char.encode("latin-1")
        return char.encode("utf-16-be")

    def _receiver(self) -> Any:
        with self._changed:
            found = self._changed.wait_for(
                lambda: [esme for esme in self._sessions.values() if esme.can_receive], self.timeout
            )
            if not found:
                raise AssertionError("no ESME bound as receiver or transceiver")
            return found[-1]

    # --- inside the loop ----------------------------------------------------------------------------

    # smpp34's awaitables are made by calls inside the running loop, hence these small wrappers.
    @staticmethod
    async def _deliver(esme: Any, destination: str, short_message: bytes, fields: dict[str, Any]) -> int:
        answer = await esme.deliver_sm(destination, short_message, **fields)
        code: int = answer.command_status
        return code

    @staticmethod
    async def _unbind(esme: Any) -> None:
        await esme.unbind()

    async def _pump(self, server: Any) -> None:
        while True:
            event = await server.next()
            if isinstance(event, smpp34.Esme):
                with self._changed:
                    self._sessions[event.session_id] = event
                    self._changed.notify_all()
            elif isinstance(event, smpp34.SubmitSmEvent):
                self._submit(event)
            elif isinstance(event, smpp34.Unbound):
                with self._changed:
                    self._sessions.pop(event.session_id, None)
                    self._changed.notify_all()

    def _loop_call(self, function: Any, *arguments: Any) -> None:
        async def call() -> None:
            function(*arguments)

        self._run(call())

    def _submit(self, event: Any) -> None:
        with self._changed:
            number = len(self._submits) + 1
            held = self._holding > 0
            if held:
                self._holding -= 1
                self._held.append(event)
            status = self._refusals.popleft() if self._refusals and not held else ROK
            message_id = f"{0x5A000000 + number:08X}" if status == ROK else None  # hex, as many SMSCs do
            short_message = bytes(event.short_message)
            concat, payload = _udh(short_message) if event.esm_class & 0x40 else (None, short_message)
            self._submits.append(
                Submit(
                    number=number,
                    session=event.session_id,
                    source_addr=event.source_addr,
                    source_addr_ton=event.source_addr_ton,
                    source_addr_npi=event.source_addr_npi,
                    destination_addr=event.destination_addr,
                    dest_addr_ton=event.dest_addr_ton,
                    dest_addr_npi=event.dest_addr_npi,
                    esm_class=event.esm_class,
                    data_coding=event.data_coding,
                    registered_delivery=event.registered_delivery,
                    short_message=short_message,
                    concat=concat,
                    payload=payload,
                    message_id=message_id,
                    status=status,
                )
            )
            self._changed.notify_all()
        if held:
            return
        if message_id is None:
            event.reject(status)
        else:
            event.accept(message_id)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, inner: int) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        self._connections.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            first = await _read_pdu(reader)
            command_id, sequence = struct.unpack(">L4xL", first[4:16])
            kind = _BINDS.get(command_id)
            if kind is None:
                return
            system_id, password = _c_strings(first[16:], 2)
            status = RINVSYSID if system_id != self.system_id else RINVPASWD if password != self.password else ROK
            with self._changed:
                self._binds.append(Bind(kind, system_id, status))
                self._changed.notify_all()
            if status != ROK:
                body = b"TESTSMSC\x00"
                writer.write(struct.pack(">LLLL", 16 + len(body), command_id | 0x80000000, status, sequence) + body)
                await writer.drain()
                return
            up_reader, upstream = await asyncio.open_connection(self.host, inner)
            receiver = kind == "receiver"
            if receiver:
                # smpp34 refuses deliver_sm_resp on a receiver bind (it checks for TX/TRX where RX/TRX is
                # meant), so it is told transceiver and the ESME is told receiver.
                first = first[:4] + struct.pack(">L", _TRANSCEIVER) + first[8:]
            upstream.write(first)
            pumps = [
                asyncio.ensure_future(self._forward(reader, upstream, from_esme=True)),
                asyncio.ensure_future(self._forward(up_reader, writer, from_esme=False, receiver=receiver)),
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            for end in (writer, upstream):
                if end is not None:
                    end.transport.abort()
            self._connections.discard(writer)
            self._relays.discard(task)

    async def _forward(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, from_esme: bool, receiver: bool = False
    ) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                frame = await _read_pdu(reader)
                command_id = struct.unpack(">L", frame[4:8])[0]
                if from_esme and command_id == _ENQUIRE_LINK:
                    with self._changed:
                        self._enquiries += 1
                        self._changed.notify_all()
                        if self._silent:
                            continue
                if receiver and command_id == _TRANSCEIVER | 0x80000000:
                    frame = frame[:4] + struct.pack(">L", _RECEIVER | 0x80000000) + frame[8:]
                writer.write(frame)
                await writer.drain()
