"""Fernet encryption of the secrets the database keeps: variable values, connection passwords and extras.

The key comes from SLIPSTREAM_FERNET_KEY (several, comma-separated, newest first, to rotate keys),
or else from <SLIPSTREAM_HOME>/fernet.key, generated on first use and readable by its owner only.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from slipstream.config import Settings
from slipstream.errors import SlipstreamError

KEY_FILE_NAME = "fernet.key"

_lock = threading.Lock()
_ciphers: dict[tuple[str, str], SecretCipher] = {}


class DecryptionError(SlipstreamError):
    """A stored secret the configured key cannot open: the key changed, or the row was tampered with."""


class FernetKeyError(SlipstreamError):
    """The configured key is not a Fernet key."""


def key_file(home: Path) -> Path:
    return Path(home) / KEY_FILE_NAME


def load_or_create_key(home: Path) -> str:
    """The key in <home>/fernet.key, creating it (mode 0600) if there is none yet.

    Created with O_EXCL, so two processes starting at once agree on one key: the loser reads the winner's.
    """
    path = key_file(home)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, key + b"\n")
    finally:
        os.close(fd)
    return key.decode()


class SecretCipher:
    def __init__(self, keys: list[str], source: str):
        self.source = source
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except (ValueError, TypeError) as exc:
            raise FernetKeyError(
                f"The Fernet key in {source} is not valid (32 url-safe base64-encoded bytes expected): {exc}"
            ) from exc

    def encrypt(self, value: str | None) -> str | None:
        if value is None:
            return None
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str | None, *, what: str) -> str | None:
        """`what` names the secret ("variable 'x'") in the error a wrong key gives."""
        if token is None:
            return None
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptionError(
                f"Cannot decrypt {what}: it was encrypted with another Fernet key than the one in {self.source}"
            ) from exc


def cipher_for(settings: Settings) -> SecretCipher:
    """The cipher for these settings' key, built once per process and key source."""
    cache_key = (settings.fernet_key, str(settings.home))
    with _lock:
        cipher = _ciphers.get(cache_key)
        if cipher is None:
            if settings.fernet_key:
                keys, source = settings.fernet_key.split(","), "SLIPSTREAM_FERNET_KEY"
            else:
                keys, source = [load_or_create_key(settings.home)], str(key_file(settings.home))
            cipher = _ciphers[cache_key] = SecretCipher([k.strip() for k in keys if k.strip()], source)
        return cipher
