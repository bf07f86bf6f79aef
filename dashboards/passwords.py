"""Dashboard passwords: salted scrypt, stored in the site config as one string.

Format: ``scrypt$N$r$p$<salt>$<key>`` with salt and key in unpadded base64url; N, r, p are
scrypt's cost parameters (defaults 2**14, 8, 1: ~16 MiB and a few tens of ms per check, the
cost an offline guesser pays per guess). Print a hash for the config with
``python -m dashboards.passwords`` (asks for the password twice, never echoes it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cmp.keys import b64u, b64u_decode

N, R, P, KEY_LEN = 2**14, 8, 1, 32
MAX_N = 2**20  # refuse hashes that would make one login cost more than ~1 GiB


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=KEY_LEN,
                         maxmem=256 * r * n)
    return f"scrypt${n}${r}${p}${b64u(salt)}${b64u(key)}"


def check_password(password: str, stored: str) -> bool:
    """True if `password` matches `stored`; malformed hashes never match."""
    try:
        scheme, n_s, r_s, p_s, salt_s, key_s = stored.split("$")
        n, r, p = int(n_s), int(r_s), int(p_s)
        salt, key = b64u_decode(salt_s), b64u_decode(key_s)
    except ValueError:
        return False
    if scheme != "scrypt" or not password or n > MAX_N or n < 2 or r < 1 or p < 1 or not key:
        return False
    got = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(key),
                         maxmem=256 * r * n)
    return hmac.compare_digest(got, key)


def main() -> int:
    import getpass

    pw = getpass.getpass("Dashboard password: ")
    if len(pw) < 10:
        print("use at least 10 characters")
        return 1
    if getpass.getpass("Again: ") != pw:
        print("the two entries differ")
        return 1
    print(hash_password(pw))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
