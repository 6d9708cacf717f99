"""E-mail pages over SMTP (issue 16): ``provider`` sends, ``message`` renders, ``transport`` talks to the
mail server, ``errors`` says what a refusal means. Standard library only (smtplib, email)."""

from memoguard.adapters.smtp.provider import SmtpProvider

__all__ = ["SmtpProvider"]
