package scenario

import (
	"encoding/binary"
	"hash/fnv"
	"net/netip"
	"strings"
)

// idGen hands out resource ids shaped like AWS's current ones: a prefix and
// 17 hex digits ("i-0a1b2c3d4e5f67890"). The digits are a keyed bijection
// of a counter, so every id of a world is distinct without a lookup table,
// and a different seed gives different ids.
type idGen struct {
	key uint64
	n   uint64
}

func newIDGen(seed int64) *idGen { return &idGen{key: mix64(uint64(seed) ^ 0x6a09e667f3bcc909)} }

// mix64 is SplitMix64's finaliser: a bijection of the 64-bit integers that
// scatters consecutive inputs.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

const hexDigits = "0123456789abcdef"

// hex17 formats x as "0" and 16 hex digits: the leading digit of AWS's
// 17-digit ids is 0 in practice.
func hex17(b *strings.Builder, x uint64) {
	b.WriteByte('0')
	for shift := 60; shift >= 0; shift -= 4 {
		b.WriteByte(hexDigits[(x>>uint(shift))&15])
	}
}

// next returns a fresh id with the given prefix ("i-", "vpc-", ...).
func (g *idGen) next(prefix string) string {
	g.n++
	var b strings.Builder
	b.Grow(len(prefix) + 17)
	b.WriteString(prefix)
	hex17(&b, mix64(g.n+g.key))
	return b.String()
}

// derived returns a stable id for a name, for things that are the same
// wherever they appear in the world (an AMI per OS and region).
func (g *idGen) derived(prefix string, parts ...string) string {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var b strings.Builder
	b.WriteString(prefix)
	hex17(&b, mix64(h.Sum64()^g.key))
	return b.String()
}

// v4Pool hands out a subnet's IPv4 addresses in order. AWS reserves the
// first four addresses and the last one of every subnet.
type v4Pool struct{ next, last uint32 }

func newV4Pool(p netip.Prefix, reserved int) v4Pool {
	a := p.Masked().Addr().As4()
	base := binary.BigEndian.Uint32(a[:])
	size := uint32(1) << (32 - p.Bits())
	return v4Pool{next: base + 4 + uint32(reserved), last: base + size - 2}
}

func (p *v4Pool) take() (netip.Addr, bool) {
	if p.next > p.last {
		return netip.Addr{}, false
	}
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], p.next)
	p.next++
	return netip.AddrFrom4(a), true
}

// v6Address is the n-th address of an IPv6 subnet: the subnet's prefix
// with a scattered interface identifier, as AWS assigns them. Subnet
// prefixes are /64 or shorter, so the low 64 bits are all host bits.
func v6Address(p netip.Prefix, key, n uint64) netip.Addr {
	a := p.Masked().Addr().As16()
	binary.BigEndian.PutUint64(a[8:], mix64(n^key))
	return netip.AddrFrom16(a)
}
