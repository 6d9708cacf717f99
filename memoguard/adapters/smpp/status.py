"""SMPP 3.4 command_status values (§5.1.3): their names, and what a refused submit_sm means for a retry."""

from __future__ import annotations

from datetime import timedelta

ROK = 0x00
RSYSERR = 0x08
RINVPASWD = 0x0E
RMSGQFUL = 0x14
RINVCMDID = 0x03
RINVDSTADR = 0x0B
RINVDSTTON = 0x50
RINVDSTNPI = 0x51
RTHROTTLED = 0x58
RX_T_APPN = 0x64  # the ESME could not take it now: deliver it again later
RX_P_APPN = 0x65  # the ESME will never take it

_NAMES: dict[int, tuple[str, str]] = {
    0x00: ("ESME_ROK", "no error"),
    0x01: ("ESME_RINVMSGLEN", "invalid message length"),
    0x02: ("ESME_RINVCMDLEN", "invalid command length"),
    0x03: ("ESME_RINVCMDID", "invalid command id"),
    0x04: ("ESME_RINVBNDSTS", "incorrect bind status for the command"),
    0x05: ("ESME_RALYBND", "already bound"),
    0x06: ("ESME_RINVPRTFLG", "invalid priority flag"),
    0x07: ("ESME_RINVREGDLVFLG", "invalid registered delivery flag"),
    0x08: ("ESME_RSYSERR", "system error"),
    0x0A: ("ESME_RINVSRCADR", "invalid source address"),
    0x0B: ("ESME_RINVDSTADR", "invalid destination address"),
    0x0C: ("ESME_RINVMSGID", "invalid message id"),
    0x0D: ("ESME_RBINDFAIL", "bind failed"),
    0x0E: ("ESME_RINVPASWD", "invalid password"),
    0x0F: ("ESME_RINVSYSID", "invalid system_id"),
    0x11: ("ESME_RCANCELFAIL", "cancel_sm failed"),
    0x13: ("ESME_RREPLACEFAIL", "replace_sm failed"),
    0x14: ("ESME_RMSGQFUL", "message queue full"),
    0x15: ("ESME_RINVSERTYP", "invalid service type"),
    0x33: ("ESME_RINVNUMDESTS", "invalid number of destinations"),
    0x34: ("ESME_RINVDLNAME", "invalid distribution list name"),
    0x40: ("ESME_RINVDESTFLAG", "invalid destination flag"),
    0x42: ("ESME_RINVSUBREP", "invalid submit with replace"),
    0x43: ("ESME_RINVESMCLASS", "invalid esm_class"),
    0x44: ("ESME_RCNTSUBDL", "cannot submit to a distribution list"),
    0x45: ("ESME_RSUBMITFAIL", "submit failed"),
    0x48: ("ESME_RINVSRCTON", "invalid source address TON"),
    0x49: ("ESME_RINVSRCNPI", "invalid source address NPI"),
    0x50: ("ESME_RINVDSTTON", "invalid destination address TON"),
    0x51: ("ESME_RINVDSTNPI", "invalid destination address NPI"),
    0x53: ("ESME_RINVSYSTYP", "invalid system_type"),
    0x54: ("ESME_RINVREPFLAG", "invalid replace_if_present flag"),
    0x55: ("ESME_RINVNUMMSGS", "invalid number of messages"),
    0x58: ("ESME_RTHROTTLED", "throttled"),
    0x61: ("ESME_RINVSCHED", "invalid scheduled delivery time"),
    0x62: ("ESME_RINVEXPIRY", "invalid validity period"),
    0x63: ("ESME_RINVDFTMSGID", "invalid predefined message id"),
    0x64: ("ESME_RX_T_APPN", "temporary application error"),
    0x65: ("ESME_RX_P_APPN", "permanent application error"),
    0x66: ("ESME_RX_R_APPN", "application rejected the message"),
    0x67: ("ESME_RQUERYFAIL", "query_sm failed"),
    0xC0: ("ESME_RINVOPTPARSTREAM", "invalid optional parameter stream"),
    0xC1: ("ESME_ROPTPARNOTALLWD", "optional parameter not allowed"),
    0xC2: ("ESME_RINVPARLEN", "invalid parameter length"),
    0xC3: ("ESME_RMISSINGOPTPARAM", "missing optional parameter"),
    0xC4: ("ESME_RINVOPTPARAMVAL", "invalid optional parameter value"),
    0xFE: ("ESME_RDELIVERYFAILURE", "delivery failure"),
    0xFF: ("ESME_RUNKNOWNERR", "unknown error"),
}

# Trying the same message again cannot work: the address, the content or our own settings are wrong.
PERMANENT = frozenset(
    {0x01, 0x06, 0x07, 0x0A, 0x0B, 0x15, 0x43, 0x48, 0x49, 0x50, 0x51, 0x61, 0x62, 0x65, 0x66, 0xC1, 0xC2, 0xC4}
)
# The SMSC asks us to slow down; the dispatcher holds this provider's queue that long.
THROTTLING = frozenset({RTHROTTLED, RMSGQFUL})
THROTTLE_WAIT = timedelta(seconds=1)


def describe(status: int) -> str:
    """``ESME_RINVPASWD (0x0e, invalid password)``; vendor codes are named by their value alone."""
    known = _NAMES.get(status)
    if known is None:
        return f"status 0x{status:02x} (not an SMPP 3.4 code)"
    return f"{known[0]} (0x{status:02x}, {known[1]})"
