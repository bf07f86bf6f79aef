"""Where a visitor is, from their IP address, and the truncated IP we may store instead of it."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import geoip2.database
import geoip2.errors
import geoip2.models
import maxminddb

from cmp.config import ConfigError

IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_ip(ip: str | None) -> IPAddr | None:
    """An address, with IPv4-mapped IPv6 (::ffff:a.b.c.d) turned back into IPv4.

    Dual-stack servers report IPv4 clients in mapped form; a GeoIP database files IPv4 networks
    under their own subtree, so the mapped form would not be found there, and truncating it as
    IPv6 (/48) would keep all 32 bits of the IPv4 address.
    """
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def truncate_ip(ip: str | None) -> str | None:
    """The network an address belongs to (IPv4 /24, IPv6 /48): never store full IPs."""
    addr = _parse_ip(ip)
    if isinstance(addr, ipaddress.IPv4Address):
        return str(ipaddress.IPv4Address(int(addr) & ~0xFF))
    if isinstance(addr, ipaddress.IPv6Address):
        # Built from the integer so a zone id (fe80::1%eth0) is dropped too.
        return str(ipaddress.IPv6Address(int(addr) >> 80 << 80))
    return None


class CountryLookup:
    """ISO country of an IP from a GeoIP2/GeoLite2 database; without one, knows nothing."""

    def __init__(self, mmdb_path: str | None) -> None:
        self._reader: geoip2.database.Reader | None = None
        self._query: Callable[[str], geoip2.models.Country] | None = None
        if not mmdb_path:  # settings use "" for "no database"
            return
        try:
            reader = geoip2.database.Reader(mmdb_path)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(
                [f"server.geoip_database: cannot open {mmdb_path!r} ({reason})"]
            ) from None
        db_type = reader.metadata().database_type
        # Country, City and Enterprise databases all carry country.iso_code, but geoip2 only
        # lets the method named after the database type read it.
        if "Country" in db_type:
            self._query = reader.country
        elif "City" in db_type:
            self._query = reader.city
        elif "Enterprise" in db_type:
            self._query = reader.enterprise
        else:
            reader.close()
            raise ConfigError(
                [f"server.geoip_database: {db_type!r} is not a Country or City database"]
            )
        self._reader = reader

    def country(self, ip: str | None) -> str | None:
        addr = _parse_ip(ip)
        if addr is None or self._query is None:
            return None
        try:
            return self._query(str(addr)).country.iso_code
        except (geoip2.errors.AddressNotFoundError, ValueError):
            # Private, reserved or simply unlisted networks: the place is unknown.
            return None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
            self._query = None
