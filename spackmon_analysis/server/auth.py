"""Users, API tokens and the bearer (JWT) flow of PROTOCOL section 3.

API tokens are 40-hex strings stored as SHA-256 digests and compared in constant time. Bearer
tokens are HS256 JWTs signed with the secret kept in the database (so a restart does not log
anyone out); decoded tokens are cached so the hot path costs a dict lookup and a clock read.

A bearer has exactly one spelling (unpadded base64url, canonical: PyJWT alone also accepts
trailing ``=`` and other aliases). Each user has a *session generation* in ``spackmon_meta``
(``sessions:<user id>``); a bearer carries the generation it was issued under (claim ``gen``,
0 when absent) and :func:`revoke_sessions` raises it, which ends every bearer issued before, in
every server process on the database within :data:`REVOCATION_REFRESH` seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

import jwt
from sqlalchemy import select

from ..errors import ConfigError
from .tables import Store, auth_failures, meta, users, utcnow

__all__ = [
    "Identity",
    "TokenIssuer",
    "FailureLimiter",
    "add_user",
    "rotate_token",
    "revoke_sessions",
    "header_problem",
    "list_users",
    "hash_token",
]

ISSUER = "spackmon-analysis"
#: Seconds a server trusts its copy of the session generations before reading them again.
REVOCATION_REFRESH = 1.0
_SESSIONS = "sessions:"
#: The longest address ``auth_failures.address`` (``String(255)``) holds as it is.
_MAX_ADDRESS = 255
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
#: A Host header: a DNS name (underscores allowed), an IPv4 address or a bracketed IPv6 address,
#: with an optional port.
_HOST = re.compile(r"(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def header_problem(headers: list[tuple[bytes, bytes]]) -> str | None:
    """Why a request's headers must be refused (400) before anything else, or None.

    Two ``Authorization`` headers (a proxy and a client could each add one; which counts would be
    a guess) and a ``Host`` that is not a host name with an optional port (the server writes it
    into ``WWW-Authenticate`` and the data API's ``next`` links) are refused on every route.
    """
    auths = hosts = 0
    host = b""
    for key, value in headers:
        if key == b"authorization":
            auths += 1
        elif key == b"host":
            hosts += 1
            host = value
    if auths > 1:
        return f"The request has {auths} Authorization headers; send exactly one."
    if hosts > 1:
        return f"The request has {hosts} Host headers; send exactly one."
    if hosts and (len(host) > 255 or not _HOST.fullmatch(host.decode("latin-1"))):
        return "The Host header is not a host name with an optional port."
    return None


def _canonical_b64(segment: str) -> bool:
    """True when ``segment`` is the one unpadded base64url spelling of its bytes."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except ValueError:
        return False
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") == segment


def hash_token(token: str) -> str:
    """SHA-256 hex digest of an API token (what the database keeps)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_api_token() -> str:
    """A fresh 40-hex API token."""
    return secrets.token_hex(20)


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or ":" in name or len(name) > 150 or any(c.isspace() for c in name):
        raise ConfigError(f"invalid user name {name!r} (non-empty, no spaces or ':', <= 150 chars)")
    return name


def add_user(store: Store, name: str) -> str:
    """Create user ``name`` and return its new 40-hex API token (ConfigError if it exists)."""
    name = _check_name(name)
    token = new_api_token()
    now = utcnow()
    with store.write.begin() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == name)).first():
            raise ConfigError(
                f"user {name!r} already exists (use 'spackmon users token {name}' to rotate)"
            )
        conn.execute(
            users.insert().values(
                username=name, token_hash=hash_token(token), created_at=now, token_updated_at=now
            )
        )
    return token


def rotate_token(store: Store, name: str) -> str:
    """Give user ``name`` a new API token (the old one stops working) and return it."""
    token = new_api_token()
    with store.write.begin() as conn:
        result = conn.execute(
            users.update()
            .where(users.c.username == name)
            .values(token_hash=hash_token(token), token_updated_at=utcnow())
        )
        if result.rowcount != 1:
            raise ConfigError(f"no user named {name!r}")
    return token


def revoke_sessions(store: Store, name: str) -> int:
    """End every bearer token issued to user ``name`` so far, in every server on ``store``'s
    database (within :data:`REVOCATION_REFRESH` seconds); returns the new session generation."""
    with store.write.begin() as conn:
        uid = conn.execute(select(users.c.id).where(users.c.username == name)).scalar()
        if uid is None:
            raise ConfigError(f"no user named {name!r}")
        key = f"{_SESSIONS}{uid}"
        current = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
        generation = int(current or 0) + 1
        if current is None:
            conn.execute(meta.insert().values(key=key, value=str(generation)))
        else:
            conn.execute(meta.update().where(meta.c.key == key).values(value=str(generation)))
    return generation


def list_users(store: Store) -> list[dict]:
    """Every user: ``{"id", "username", "created_at", "token_updated_at"}``."""
    with store.read.connect() as conn:
        rows = conn.execute(select(users).order_by(users.c.id)).all()
    return [
        {
            "id": r.id,
            "username": r.username,
            "created_at": r.created_at,
            "token_updated_at": r.token_updated_at,
        }
        for r in rows
    ]


@dataclass(frozen=True)
class Identity:
    """The authenticated caller of a request."""

    user_id: int
    username: str


class TokenIssuer:
    """Checks Basic credentials, issues bearer JWTs and verifies them (with a decode cache)."""

    def __init__(self, store: Store, lifetime: int = 6000, refresh: float = REVOCATION_REFRESH):
        self.store = store
        self.lifetime = int(lifetime)
        self.refresh = float(refresh)
        self._cache: dict[str, tuple[Identity, float, int]] = {}
        self._lock = threading.Lock()
        self._generations: dict[int, int] = {}
        self._read_at = -math.inf

    def _generation(self, uid: int) -> int:
        """The user's session generation, read from the database at most every ``refresh`` s."""
        now = time.monotonic()
        if now - self._read_at >= self.refresh:
            with self._lock:
                if now - self._read_at >= self.refresh:
                    with self.store.read.connect() as conn:
                        rows = conn.execute(
                            select(meta.c.key, meta.c.value).where(meta.c.key.like(_SESSIONS + "%"))
                        ).all()
                    self._generations = {
                        int(k[len(_SESSIONS) :]): int(v)
                        for k, v in rows
                        if k[len(_SESSIONS) :].isdigit() and v.isdigit()
                    }
                    self._read_at = now
        return self._generations.get(uid, 0)

    def check_basic(self, header: str | None) -> Identity | None:
        """The user of a ``Basic base64(user:token)`` header, or None when it does not match."""
        if not header or not header[:6].lower() == "basic ":
            return None
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        name, sep, token = decoded.partition(":")
        if not sep or "\x00" in name or len(name) > 150:  # no such user can exist
            return None
        with self.store.read.connect() as conn:
            row = conn.execute(
                select(users.c.id, users.c.token_hash).where(users.c.username == name)
            ).first()
        supplied = hash_token(token)
        expected = row.token_hash if row else hash_token(secrets.token_hex(20))
        if not hmac.compare_digest(supplied, expected) or row is None:
            return None
        return Identity(row.id, name)

    def issue(self, ident: Identity) -> dict:
        """A bearer token for ``ident``: ``{"token", "expires_in", "issued_at"}``."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": ident.username,
            "uid": ident.user_id,
            "iat": now,
            "nbf": now - 5,
            "exp": now + self.lifetime,
            "jti": uuid.uuid4().hex,
            "gen": self._generation(ident.user_id),
            "access": [{"type": "repository", "name": "build", "actions": ["push", "pull"]}],
        }
        token = jwt.encode(claims, self.store.secret, algorithm="HS256")
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return {"token": token, "expires_in": self.lifetime, "issued_at": issued}

    def verify_bearer(self, header: str | None) -> Identity | None:
        """The identity of a valid, unexpired ``Bearer <jwt>`` header, else None."""
        if not header or header[:7].lower() != "bearer ":
            return None
        token = header[7:].strip()
        now = time.time()
        hit = self._cache.get(token)
        if hit is not None:
            if now < hit[1] and hit[2] >= self._generation(hit[0].user_id):
                return hit[0]
            with self._lock:
                self._cache.pop(token, None)
            return None
        # one spelling per token: no padding, no other base64 alias of the same bytes
        if not _JWT.fullmatch(token) or not all(_canonical_b64(p) for p in token.split(".")):
            return None
        try:
            claims = jwt.decode(
                token,
                self.store.secret,
                algorithms=["HS256"],
                issuer=ISSUER,
                options={"require": ["exp", "sub", "uid", "iat"]},
            )
        except jwt.PyJWTError:
            return None
        ident = Identity(int(claims["uid"]), str(claims["sub"]))
        generation = claims.get("gen", 0)
        if not isinstance(generation, int) or generation < self._generation(ident.user_id):
            return None  # issued before the user's sessions were revoked
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[token] = (ident, float(claims["exp"]), generation)
        return ident


class FailureLimiter:
    """Refuses an address after ``limit`` failed attempts within ``window`` seconds.

    The token endpoint records each wrong ``user:token`` pair here; once an address has ``limit``
    failures younger than ``window`` seconds, :meth:`retry_after` answers the seconds until the
    oldest of them ages out (the endpoint then answers 429 with ``Retry-After``, even for right
    credentials, so guessing cannot go on). ``limit <= 0`` disables the limiter.

    The failures are rows of the database's ``auth_failures`` table, not memory of one process:
    every server process on the database (``spackmon serve --workers N``, or several servers
    behind one proxy) counts the same failures, so spreading guesses over workers gains nothing.
    Times are wall-clock seconds (``time.time()``), so servers on several hosts need synchronised
    clocks (NTP) and the same ``--auth-window``. Each recorded failure deletes the rows older
    than the window, so the table holds at most one window of failures. An address longer than
    the column (a forwarded one) is counted under its SHA-256 digest.
    """

    def __init__(self, store: Store, limit: int = 10, window: float = 60.0):
        self.store = store
        self.limit = int(limit)
        self.window = float(window)

    @staticmethod
    def _key(address: str) -> str:
        if len(address) <= _MAX_ADDRESS:
            return address
        return "sha256:" + hashlib.sha256(address.encode("utf-8", "surrogatepass")).hexdigest()

    def retry_after(self, address: str) -> int | None:
        """Seconds the address must wait before trying again, or None when it may try now."""
        if self.limit <= 0:
            return None
        now = time.time()
        with self.store.read.connect() as conn:
            times = (
                conn.execute(
                    select(auth_failures.c.failed_at)
                    .where(
                        auth_failures.c.address == self._key(address),
                        auth_failures.c.failed_at > now - self.window,
                    )
                    .order_by(auth_failures.c.failed_at.desc())
                    .limit(self.limit)
                )
                .scalars()
                .all()
            )
        if len(times) < self.limit:
            return None
        return max(1, math.ceil(times[-1] + self.window - now))

    def failed(self, address: str) -> None:
        """Record one failed attempt from ``address`` (one transaction)."""
        if self.limit <= 0:
            return
        now = time.time()
        with self.store.write.begin() as conn:
            conn.execute(auth_failures.insert().values(address=self._key(address), failed_at=now))
            conn.execute(
                auth_failures.delete().where(auth_failures.c.failed_at <= now - self.window)
            )
