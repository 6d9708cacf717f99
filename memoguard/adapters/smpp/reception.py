"""What the provider does with each deliver_sm, and the command_status it answers with.

A delivery receipt goes to ``Inbox.receipt``; any other deliver_sm is a text from a phone, decoded,
reassembled when it came in parts (each part kept in the database as it comes), then handed to
``Inbox.reply``. The answer is ESME_ROK once the inbox has returned (or a part is kept); ESME_RX_T_APPN
when the inbox raised or a part could not be kept, so the SMSC delivers it again later; and
ESME_RX_P_APPN for a PDU that can never be read, so the SMSC does not try forever.
"""

from __future__ import annotations

import logging

from memoguard.adapters.smpp import address, pdu, receipt, status, udh
from memoguard.adapters.smpp.assembly import Assembly
from memoguard.adapters.smpp.encoding import decode
from memoguard.services.clock import Clock
from memoguard.services.inbox import Inbound, Inbox, Receipt, SmsParts
from memoguard.services.logfields import ids

log = logging.getLogger(__name__)


class Reception:
    def __init__(self, provider: str, inbox: Inbox, clock: Clock, parts: SmsParts) -> None:
        self._provider = provider
        self._inbox = inbox
        self._clock = clock
        self._assembly = Assembly(provider, parts, clock)

    def __call__(self, message: pdu.DeliverSm) -> int:
        if receipt.is_receipt(message):
            return self._receipt(message)
        return self._text(message)

    def _receipt(self, message: pdu.DeliverSm) -> int:
        try:
            parsed = receipt.parse(message)
        except receipt.ReceiptError as error:
            log.warning(
                "%s: refused a delivery receipt from %s: %s",
                self._provider,
                _who(message),
                error,
                extra=ids(provider=self._provider),
            )
            return status.RX_P_APPN
        # The receipt's own dates are in the SMSC's time zone, which SMPP does not state: "at" is when it came.
        found = Receipt(self._provider, parsed.message_id, parsed.state, parsed.error, self._clock.now())
        try:
            self._inbox.receipt(found)
        except Exception as error:
            log.warning(
                "%s: the inbox could not take the receipt for %s (%s: %s); the SMSC will deliver it again",
                self._provider,
                parsed.message_id,
                type(error).__name__,
                error,
                extra=ids(provider=self._provider),
            )
            return status.RX_T_APPN
        return status.ROK

    def _text(self, message: pdu.DeliverSm) -> int:
        body = message.short_message or message.tlvs.get(pdu.MESSAGE_PAYLOAD, b"")
        part: udh.Concatenation | None = None
        if message.esm_class & udh.UDHI:
            try:
                part, body = udh.split(body)
            except udh.HeaderError as error:
                log.warning(
                    "%s: refused an SMS from %s: %s",
                    self._provider,
                    _who(message),
                    error,
                    extra=ids(provider=self._provider),
                )
                return status.RX_P_APPN
        if part is None:
            part = _segment(message)
        sender = address.sender(message.source_addr, message.source_addr_ton)
        if part is None or part.total == 1:
            return self._reply(sender, message.destination_addr, decode(body, message.data_coding))
        try:
            whole = self._assembly.add(sender, part.reference, part.total, part.seq, body, message.data_coding)
        except Exception as error:
            log.warning(
                "%s: could not keep part %d of %d of an SMS from %s (%s: %s); the SMSC will deliver it again",
                self._provider,
                part.seq,
                part.total,
                sender,
                type(error).__name__,
                error,
                extra=ids(provider=self._provider),
            )
            return status.RX_T_APPN
        if whole is None:
            return status.ROK
        code = self._reply(sender, message.destination_addr, decode(whole.payload, whole.data_coding))
        if code == status.ROK:
            try:
                self._assembly.done(whole)
            except Exception as error:  # taken: its parts go when pruned
                log.warning(
                    "%s: could not forget the parts of an SMS from %s (%s)",
                    self._provider,
                    sender,
                    error,
                    extra=ids(provider=self._provider),
                )
        return code

    def _reply(self, sender: str, recipient: str, text: str) -> int:
        try:
            self._inbox.reply(Inbound(self._provider, sender, recipient, text))
        except Exception as error:
            log.warning(
                "%s: the inbox could not take an SMS from %s (%s: %s); the SMSC will deliver it again",
                self._provider,
                sender,
                type(error).__name__,
                error,
                extra=ids(provider=self._provider),
            )
            return status.RX_T_APPN
        return status.ROK


def _segment(message: pdu.DeliverSm) -> udh.Concatenation | None:
    """Concatenation told by the sar_* optional parameters instead of a user data header."""
    reference = message.tlv_int(pdu.SAR_MSG_REF_NUM)
    total = message.tlv_int(pdu.SAR_TOTAL_SEGMENTS)
    seq = message.tlv_int(pdu.SAR_SEGMENT_SEQNUM)
    if reference is None or total is None or seq is None or total == 0 or not 1 <= seq <= total:
        return None
    return udh.Concatenation(reference, total, seq)


def _who(message: pdu.DeliverSm) -> str:
    return message.source_addr or "an unnamed sender"
