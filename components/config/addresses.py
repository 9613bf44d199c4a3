"""Address space an allowlist covers: the union of its blocks, IPv6 spellings of IPv4 normalised.

A list is judged by what it opens, not block by block: hundreds of /8s that together cover most
of IPv4 are as open as ``0.0.0.0/0``, and ``::ffff:0:0/96`` (IPv4-mapped IPv6) is all of IPv4.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: IPv6 ranges that embed an IPv4 address (RFC 4291 IPv4-mapped and the deprecated IPv4-compatible,
#: RFC 6052 NAT64, RFC 3056 6to4): prefix → bit offset of the IPv4 address from the low end.
IPV4_IN_IPV6: tuple[tuple[ipaddress.IPv6Network, int], ...] = (
    (ipaddress.IPv6Network("::ffff:0:0/96"), 0),
    (ipaddress.IPv6Network("::/96"), 0),
    (ipaddress.IPv6Network("64:ff9b::/96"), 0),
    (ipaddress.IPv6Network("2002::/16"), 80),
)
_ALL_V4 = ipaddress.IPv4Network("0.0.0.0/0")


def normalise(net: Network) -> list[Network]:
    """``net`` as the networks it reaches: an IPv6 spelling of IPv4 becomes that IPv4 range (a block
    wider than an embedding range also covers all of IPv4); everything else stays as it is."""
    if net.version == 4:
        return [net]
    result: list[Network] = []
    for embedding, shift in IPV4_IN_IPV6:
        if net.subnet_of(embedding):  # type: ignore[arg-type]
            bits = 32 - max(0, embedding.max_prefixlen - shift - net.prefixlen)
            address = (int(net.network_address) >> shift) & 0xFFFFFFFF
            return [ipaddress.IPv4Network((address, min(32, bits)), strict=False)]
        if embedding.subnet_of(net):  # type: ignore[arg-type]
            result.append(_ALL_V4)
    return [net, *result[:1]]


@dataclass(frozen=True)
class Coverage:
    """How much address space a list of blocks covers, after normalising and merging them."""

    ipv4: int
    ipv6: int

    @property
    def ipv4_share(self) -> float:
        """Share of the whole IPv4 space (2^32 addresses)."""
        return self.ipv4 / 2**32

    def describe(self) -> str:
        parts = []
        if self.ipv4:
            parts.append(f"{self.ipv4:,} IPv4 addresses ({_percent(self.ipv4_share)} of all IPv4)")
        if self.ipv6:
            parts.append(f"the equivalent of {_blocks(self.ipv6, 128)} of IPv6")
        return " and ".join(parts) or "nothing"


def _percent(share: float) -> str:
    return f"{share:.0%}" if share >= 0.01 else f"{share:.4%}" if share >= 0.000001 else "under 0.0001%"


def _blocks(addresses: int, bits: int) -> str:
    """An address count as the prefix length of a block that size (rounded down)."""
    return f"one /{bits - addresses.bit_length() + 1}" if addresses else "nothing"


def coverage(blocks: Iterable[str]) -> Coverage:
    """The union of ``blocks`` (CIDR text), IPv6 spellings of IPv4 counted as IPv4."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for block in blocks:
        for net in normalise(ipaddress.ip_network(block, strict=False)):
            (v4 if net.version == 4 else v6).append(net)  # type: ignore[arg-type]
    # IPv6 embeddings of IPv4 already counted as IPv4 are not counted again as IPv6.
    v6 = [n for n in v6 if not any(n.subnet_of(e) for e, _ in IPV4_IN_IPV6)]
    return Coverage(
        sum(n.num_addresses for n in ipaddress.collapse_addresses(v4)),
        sum(n.num_addresses for n in ipaddress.collapse_addresses(v6)),
    )


def limit_problem(blocks: Iterable[str], *, key: str, environment: str, limit: tuple[int, int]) -> list[str]:
    """The refusal when ``blocks`` together cover more than one IPv4 /limit[0] or IPv6 /limit[1]."""
    covered = coverage(blocks)
    v4_max, v6_max = 2 ** (32 - limit[0]), 2 ** (128 - limit[1])
    if covered.ipv4 <= v4_max and covered.ipv6 <= v6_max:
        return []
    return [
        f"{key}: together the blocks cover {covered.describe()}; the {environment} profile allows at most the "
        f"address space of one IPv4 /{limit[0]} ({v4_max:,} addresses) and one IPv6 /{limit[1]} in total "
        f"(IPv6 spellings of IPv4 such as ::ffff:0:0/96 count as IPv4); narrow {key} to the addresses you need"
    ]
