"""Outgoing email over SMTP (stdlib smtplib), configured by one URL.

``TRACKER_SMTP_URL`` forms:
- ``smtp://host:port`` plain SMTP (port 25 by default), e.g. a local relay;
- ``smtp://user:pass@host:587`` with credentials: upgraded with STARTTLS when the server offers it;
  a password is never sent in clear to a server other than this machine's (loopback);
- ``smtp+starttls://user:pass@host:587`` STARTTLS required;
- ``smtps://user:pass@host:465`` SMTP over TLS from the first byte.
User and password are optional and may be percent-encoded.
"""
from __future__ import annotations

import ipaddress
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class MailError(ValueError):
    """An unusable SMTP URL."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False  # smtps: TLS from the start
    starttls: bool = False

    def __repr__(self) -> str:  # never show the password in logs
        return f"SmtpConfig(host={self.host!r}, port={self.port}, username={self.username!r}, tls={self.tls})"


def parse_smtp_url(url: str) -> SmtpConfig:
    """Parse ``smtp://``, ``smtp+starttls://`` or ``smtps://`` URLs; raise MailError otherwise."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise MailError(f"TRACKER_SMTP_URL must start with smtp://, smtp+starttls:// or smtps:// (got {scheme!r})")
    if not parts.hostname:
        raise MailError("TRACKER_SMTP_URL has no host name")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise MailError(f"TRACKER_SMTP_URL has a bad port: {exc}") from exc
    return SmtpConfig(
        host=parts.hostname, port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=scheme == "smtps", starttls=scheme == "smtp+starttls",
    )


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def send_messages(config: SmtpConfig, messages: list[EmailMessage], timeout: float = 15.0) -> list[str | None]:
    """Send ``messages`` over one connection; return, per message, None when it was accepted or the
    error text. Connection and login failures mark every message failed; nothing is raised."""
    if not messages:
        return []
    try:
        if config.tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(config.host, config.port, timeout=timeout,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=timeout)
    except (OSError, smtplib.SMTPException) as exc:
        return [f"cannot connect to {config.host}:{config.port}: {exc}"] * len(messages)
    results: list[str | None] = []
    with client:
        try:
            if not config.tls:
                client.ehlo()
                offered = client.has_extn("starttls")
                if config.starttls or (config.username and offered):
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                elif config.username and not _is_loopback(config.host):
                    return ["the server offers no STARTTLS: refusing to send the password in clear "
                            "(use smtps:// or a local relay)"] * len(messages)
            if config.username:
                client.login(config.username, config.password or "")
        except (OSError, smtplib.SMTPException) as exc:
            return [f"SMTP session failed: {exc}"] * len(messages)
        for message in messages:
            try:
                refused = client.send_message(message)
                results.append(f"refused: {refused}" if refused else None)
            except (OSError, smtplib.SMTPException) as exc:
                results.append(str(exc) or type(exc).__name__)
    return results
