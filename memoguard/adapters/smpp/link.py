"""One bind to the SMSC (transceiver, transmitter or receiver), kept up by its own thread.

The link thread owns the socket and the smpplib client, which is not thread-safe: it connects, binds,
reads every PDU, and writes every PDU too. Other threads hand it work through a queue and a wake-up
socket (a submit_sm to send, a deliver_sm_resp to answer), so sequence numbers, TLS records and
writes never interleave. Each submit_sm waits for the submit_sm_resp with its sequence number.

A deliver_sm goes to a second thread that calls the inbox, so a slow inbox does not stop the link
from reading submit_sm_resp, and the answer goes back once the inbox has returned.

When idle the link sends enquire_link every ``enquire_link``; no answer within ``timeout`` means the
peer is dead. Any loss (socket error, end of stream, an unbind from the SMSC, a dead peer) and any
failed bind make the thread try again after an exponential, jittered backoff capped at
``reconnect_max``; while down, ``submit`` refuses at once and ``problem`` says why.

The socket itself (connecting, TLS, exact reads, an error in an operator's words) is wire.py; what the
sender's thread and the link thread hand each other is request.py.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from smpplib import consts as smpp_consts
from smpplib import smpp as smpp_pdus

from memoguard.adapters.smpp import pdu, status
from memoguard.adapters.smpp.request import Answer, LinkDown, NoAnswer, Request, Response
from memoguard.adapters.smpp.wire import Client, Lost, Peer
from memoguard.config.schema import SmppProvider as SmppSettings
from memoguard.services.clock import Clock

log = logging.getLogger(__name__)

Mode = Literal["transceiver", "transmitter", "receiver"]
Deliver = Callable[[pdu.DeliverSm], int]

_FIRST_RETRY = 0.25  # seconds before the first new attempt; doubles up to reconnect_max
_STABLE = 30.0  # a bind that lasted this long starts the backoff over
_UNBIND_GRACE = 2.0  # how long close() waits for the SMSC's unbind_resp


@dataclass
class _Session:
    client: Client
    generation: int
    last_received: float
    buffer: bytearray = field(default_factory=bytearray)
    pending: dict[int, Request] = field(default_factory=dict)
    enquiry_sent: float | None = None
    unbind_sent: float | None = None


class Link:
    def __init__(
        self, label: str, settings: SmppSettings, password: str, mode: Mode, clock: Clock, deliver: Deliver | None
    ) -> None:
        self.label = label
        self._settings = settings
        self._password = password
        self._mode = mode
        self._clock = clock
        self._deliver = deliver
        self._timeout = settings.timeout.total_seconds()
        self._peer = Peer(label, settings, self._timeout)
        self._address = self._peer.address
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._closing = threading.Event()
        self._outgoing: deque[Request | Answer] = deque()
        self._inbound: deque[tuple[int, pdu.DeliverSm] | None] = deque()
        self._inbound_ready = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._receiver: threading.Thread | None = None
        self._wake_read: socket.socket | None = None
        self._wake_write: socket.socket | None = None
        self._started = self._closed = False
        self._bound = False
        self._settled = False  # the first attempt to bind has come to an end, either way
        self._generation = 0
        self._problem: str | None = f"{label}: not started"
        self._down_since: str | None = None

    # --- what other threads call ------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._started or self._closed:
                return
            self._started = True
            self._problem = f"{self.label}: connecting to {self._address}"
            self._wake_read, self._wake_write = socket.socketpair()
            self._wake_write.setblocking(False)
            self._thread = threading.Thread(target=self._run, name=f"smpp {self.label}", daemon=True)
            if self._deliver is not None:
                self._receiver = threading.Thread(target=self._receive, name=f"smpp {self.label} inbox", daemon=True)
        if len(self._password) > 8:
            # SMPP 3.4 gives the password 9 octets with its NUL; smpplib cuts it without a word.
            log.warning("%s: the password is longer than the 8 characters SMPP 3.4 carries: binds may fail", self.label)
        self._thread.start()
        if self._receiver is not None:
            self._receiver.start()

    @property
    def problem(self) -> str | None:
        with self._lock:
            return None if self._bound else self._problem

    @property
    def bound(self) -> bool:
        with self._lock:
            return self._bound

    def wait_settled(self, timeout: float) -> bool:
        """Wait until the first attempt to bind has succeeded or failed; False if it still runs."""
        with self._changed:
            return self._changed.wait_for(lambda: self._settled or self._closed, timeout)

    def wait_bound(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._bound or self._closed, timeout) and self._bound

    def submit(self, fields: Mapping[str, Any]) -> Response:
        """Send one submit_sm and wait for its submit_sm_resp, at most ``timeout``.

        Raises LinkDown when the link is not bound or is lost meanwhile, NoAnswer on a timeout."""
        request = Request(fields)
        with self._lock:
            if not self._bound:
                raise LinkDown(self._problem or f"{self.label}: not bound")
            self._outgoing.append(request)
        self._wake()
        if not request.done.wait(self._timeout) and request.abandon():
            raise NoAnswer(f"no submit_sm_resp within {self._timeout:g}s")
        if request.failure is not None or request.response is None:
            raise LinkDown(request.failure or f"{self.label}: link lost")
        return request.response

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._changed.notify_all()
            thread, receiver = self._thread, self._receiver
        self._closing.set()
        self._wake()
        if receiver is not None:
            with self._inbound_ready:
                self._inbound.append(None)
                self._inbound_ready.notify()
        for worker in (thread, receiver):
            if worker is not None:
                worker.join(_UNBIND_GRACE + 2 * self._timeout)
                if worker.is_alive():
                    log.warning("%s: thread %r did not stop", self.label, worker.name)
        if thread is None or not thread.is_alive():
            for end in (self._wake_read, self._wake_write):
                if end is not None:
                    end.close()

    # --- the link thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        try:
            while not self._closing.is_set():
                began = time.monotonic()
                session = self._open()
                if session is not None:
                    self._serve(session)
                    if time.monotonic() - began >= _STABLE:
                        attempt = 0
                if self._closing.is_set():
                    break
                delay = min(self._settings.reconnect_max.total_seconds(), _FIRST_RETRY * 2**attempt)
                attempt += 1
                # Jitter keeps many links cut by one SMSC restart from binding again all at once.
                self._closing.wait(delay * random.uniform(0.5, 1.0))
        except Exception:
            log.exception("%s: the link thread failed; the provider stays down", self.label)
        finally:
            with self._lock:
                self._bound = False
                if self._closing.is_set():
                    self._problem = f"{self.label}: closed"
                else:
                    self._problem = f"{self.label}: the link thread stopped on an internal error (see the log)"
                self._settled = True
                self._changed.notify_all()
            self._fail_queued("closed")

    def _open(self) -> _Session | None:
        try:
            sock = self._peer.connect()
        except Exception as error:  # OSError mostly; a host name IDNA cannot encode raises UnicodeError
            self._down(f"cannot connect to {self._address}: {self._peer.why(error)}")
            return None
        client = Client(sock, self._timeout)
        try:
            code = self._bind(client)
        except (OSError, pdu.PduError, Lost) as error:
            client.release()
            self._down(f"no bind_{self._mode}_resp from {self._address}: {self._peer.why(error)}")
            return None
        if code != status.ROK:
            client.release()
            self._refused(code)
            return None
        with self._lock:
            outage = self._down_since
            self._generation += 1
            self._bound, self._settled, self._problem, self._down_since = True, True, None, None
            generation = self._generation
            self._changed.notify_all()
        if outage is None:
            log.info("%s: bound as %s to %s", self.label, self._mode, self._address)
        else:
            log.warning("%s: bound again as %s to %s (down since %s)", self.label, self._mode, self._address, outage)
        return _Session(client, generation, time.monotonic())

    def _bind(self, client: Client) -> int:
        """Send the bind and read its answer; returns the SMSC's command_status."""
        settings = self._settings
        request = smpp_pdus.make_pdu(
            f"bind_{self._mode}",
            client=client,
            system_id=settings.system_id,
            password=self._password,
            system_type=settings.system_type,
        )
        self._peer.send(client, request)
        # Read here rather than through smpplib's bind, which reports a timeout and a closed socket alike.
        raw = self._peer.read_exact(client.sock, 4)
        raw += self._peer.read_exact(client.sock, pdu.command_length(raw) - 4)
        head = pdu.header(raw)
        answered = head.command_id == pdu.BIND[self._mode] | pdu.RESPONSE
        if not answered and not (head.command_id == pdu.GENERIC_NACK and head.status != status.ROK):
            raise pdu.PduError(f"expected bind_{self._mode}_resp, got command 0x{head.command_id:08x}")
        if head.status == status.ROK:
            client.state = smpp_consts.STATE_SETTERS[f"bind_{self._mode}_resp"]
        return head.status

    def _serve(self, session: _Session) -> None:
        """Carry PDUs until the link ends, then mark it down and fail what waited on it."""
        try:
            reason = self._loop(session)
        except Lost as lost:
            reason = lost.reason
        except Exception:
            self._end(session, "the link thread failed (see the log)")
            raise
        self._end(session, reason)

    def _end(self, session: _Session, reason: str) -> None:
        closing = self._closing.is_set()
        since = self._clock.now().isoformat(timespec="seconds")
        with self._lock:
            # One step, so that no reader ever sees the link unbound without a reason.
            self._bound = False
            self._down_since = since
            self._problem = f"{self.label}: closed" if closing else f"{self.label}: link down since {since}: {reason}"
            self._changed.notify_all()
        session.client.release()
        for request in session.pending.values():
            request.finish(failure=f"{self.label}: link lost before the submit_sm_resp came: {reason}")
        self._fail_queued(f"link lost ({reason})")
        if not closing:
            log.warning("%s: link lost: %s; binding again", self.label, reason)

    def _loop(self, session: _Session) -> str:
        sock = session.client.sock
        assert self._wake_read is not None
        every = self._settings.enquire_link.total_seconds()
        while True:
            self._flush(session)
            now = time.monotonic()
            if self._closing.is_set():
                if session.unbind_sent is None:
                    session.unbind_sent = now
                    self._send(session, smpp_pdus.make_pdu("unbind", client=session.client))
                elif now - session.unbind_sent >= _UNBIND_GRACE:
                    return "closed"
            if session.enquiry_sent is not None:
                if now - session.enquiry_sent >= self._timeout:
                    raise Lost(f"no enquire_link_resp within {self._timeout:g}s: the SMSC stopped answering")
                deadline = session.enquiry_sent + self._timeout
            elif now - session.last_received >= every:
                session.enquiry_sent = now
                self._send(session, smpp_pdus.make_pdu("enquire_link", client=session.client))
                deadline = now + self._timeout
            else:
                deadline = session.last_received + every
            if session.unbind_sent is not None:
                deadline = min(deadline, session.unbind_sent + _UNBIND_GRACE)
            if isinstance(sock, ssl.SSLSocket) and sock.pending():
                readable: list[Any] = [sock]  # decrypted bytes already buffered: select would not see them
            else:
                readable, _, _ = select.select([sock, self._wake_read], [], [], max(0.0, deadline - now))
            if self._wake_read in readable:
                self._wake_read.recv(4096)
            if sock in readable:
                ended = self._read(session, sock)
                if ended is not None:
                    return ended

    def _read(self, session: _Session, sock: socket.socket) -> str | None:
        try:
            chunk = sock.recv(65536)
        except OSError as error:
            raise Lost(f"connection to {self._address} broken: {self._peer.why(error)}") from None
        if not chunk:
            if session.unbind_sent is not None:
                return "closed"
            raise Lost(f"{self._address} closed the connection")
        session.last_received = time.monotonic()
        session.buffer += chunk
        while len(session.buffer) >= 4:
            try:
                length = pdu.command_length(bytes(session.buffer[:4]))
            except pdu.PduError as error:
                raise Lost(f"garbage from {self._address}: {error}") from None
            if len(session.buffer) < length:
                break
            raw = bytes(session.buffer[:length])
            del session.buffer[:length]
            ended = self._handle(session, raw)
            if ended is not None:
                return ended
        return None

    def _handle(self, session: _Session, raw: bytes) -> str | None:
        head = pdu.header(raw)
        command = head.command_id
        if command == pdu.SUBMIT_SM_RESP or (command == pdu.GENERIC_NACK and head.sequence in session.pending):
            request = session.pending.pop(head.sequence, None)
            # A generic_nack to a submit_sm is a refusal like any other: its status says why.
            message_id = pdu.message_id(raw) if command == pdu.SUBMIT_SM_RESP else ""
            if request is None:
                log.debug("%s: submit_sm_resp #%d for no waiting submit_sm", self.label, head.sequence)
            elif not request.finish(Response(head.status, message_id)):
                log.warning(
                    "%s: submit_sm_resp #%d (%s) came after the sender gave up: the message may go twice",
                    self.label,
                    head.sequence,
                    status.describe(head.status),
                )
        elif command == pdu.DELIVER_SM:
            self._accept(session, raw, head)
        elif command == pdu.ENQUIRE_LINK:
            self._answer(session, "enquire_link_resp", head.sequence)
        elif command == pdu.ENQUIRE_LINK_RESP:
            session.enquiry_sent = None
        elif command == pdu.UNBIND:
            self._answer(session, "unbind_resp", head.sequence)
            return "closed" if self._closing.is_set() else f"{self._address} unbound the session"
        elif command == pdu.UNBIND_RESP:
            if session.unbind_sent is not None:
                return "closed"
        elif command == pdu.GENERIC_NACK:
            problem = status.describe(head.status)
            log.warning("%s: generic_nack #%d from %s: %s", self.label, head.sequence, self._address, problem)
        elif command & pdu.RESPONSE == 0 and command != pdu.ALERT_NOTIFICATION:
            self._answer(session, "generic_nack", head.sequence, status.RINVCMDID)
        return None

    def _accept(self, session: _Session, raw: bytes, head: pdu.Header) -> None:
        if self._deliver is None:
            self._answer(session, "generic_nack", head.sequence, status.RINVCMDID)
            return
        try:
            message = pdu.deliver_sm(raw)
        except pdu.PduError as error:
            log.warning("%s: refused a deliver_sm that does not parse (%s): %s", self.label, error, raw.hex())
            self._answer(session, "deliver_sm_resp", head.sequence, status.RX_P_APPN)
            return
        with self._inbound_ready:
            self._inbound.append((session.generation, message))
            self._inbound_ready.notify()

    def _flush(self, session: _Session) -> None:
        with self._lock:
            items = list(self._outgoing)
            self._outgoing.clear()
        for index, item in enumerate(items):
            try:
                self._put(session, item)
            except Lost:
                with self._lock:  # what was not sent yet is failed with the link, not forgotten
                    self._outgoing.extendleft(reversed(items[index + 1 :]))
                raise

    def _put(self, session: _Session, item: Request | Answer) -> None:
        if isinstance(item, Answer):
            if item.generation == session.generation:  # else the SMSC delivers it again on the new bind
                self._answer(session, "deliver_sm_resp", item.sequence, item.status)
            return
        if self._closing.is_set():
            item.finish(failure=f"{self.label}: closing")
            return
        if not item.take():
            return
        try:
            request = smpp_pdus.make_pdu("submit_sm", client=session.client, **item.fields)
        except Exception as error:
            item.finish(failure=f"{self.label}: cannot build the submit_sm: {error}")
            return
        session.pending[request.sequence] = item
        self._send(session, request)

    def _answer(self, session: _Session, command: str, sequence: int, code: int = status.ROK) -> None:
        answer = smpp_pdus.make_pdu(command, client=session.client, status=code)
        answer.sequence = sequence
        self._send(session, answer)

    def _send(self, session: _Session, message: Any) -> None:
        self._peer.send(session.client, message)

    # --- the inbox thread ---------------------------------------------------------------------------

    def _receive(self) -> None:
        assert self._deliver is not None
        while True:
            with self._inbound_ready:
                self._inbound_ready.wait_for(lambda: bool(self._inbound))
                item = self._inbound.popleft()
            if item is None:
                return
            generation, message = item
            with self._lock:
                current = self._bound and generation == self._generation
            if not current:
                continue  # its bind is gone, unanswered: the SMSC delivers it again on the next one
            try:
                code = self._deliver(message)
            except Exception:
                log.exception("%s: handling deliver_sm #%d failed", self.label, message.sequence)
                code = status.RX_T_APPN
            with self._lock:
                self._outgoing.append(Answer(generation, message.sequence, code))
            self._wake()

    # --- state --------------------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._wake_write is None:
            return
        # Full means the thread has wake-ups waiting already; closed means it is gone.
        with contextlib.suppress(OSError):
            self._wake_write.send(b"\x00")

    def _down(self, reason: str, problem: str | None = None) -> None:
        since = self._clock.now().isoformat(timespec="seconds")
        with self._lock:
            if self._down_since is None:
                self._down_since = since
            self._problem = problem or f"{self.label}: link down since {self._down_since}: {reason}"
            self._settled = True
            self._changed.notify_all()
        if not self._closing.is_set():
            log.warning("%s; trying again", problem or f"{self.label}: {reason}")

    def _refused(self, code: int) -> None:
        problem = f"{self.label}: bind refused by {self._address}: {status.describe(code)}"
        self._down(f"bind refused: {status.describe(code)}", problem)

    def _fail_queued(self, reason: str) -> None:
        with self._lock:
            items = list(self._outgoing)
            self._outgoing.clear()
        for item in items:
            if isinstance(item, Request):
                item.finish(failure=f"{self.label}: {reason} before the submit_sm was sent")
