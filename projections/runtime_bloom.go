package projections

import "hash/maphash"

// bloomBits is the size of a track's written-keys filter: 2 MiB, about a
// 2% false-positive rate at two million keys (a false positive costs one
// Redis GET, never a wrong answer).
const bloomBits = 1 << 24

const bloomHashes = 4

// bloom is a Bloom filter of strings, allocated on first add. The zero
// value is empty.
type bloom struct {
	seed maphash.Seed
	bits []uint64
}

func (f *bloom) add(s string) {
	if f.bits == nil {
		f.seed = maphash.MakeSeed()
		f.bits = make([]uint64, bloomBits/64)
	}
	h1, h2 := f.hashes(s)
	for i := range uint64(bloomHashes) {
		b := (h1 + i*h2) % bloomBits
		f.bits[b/64] |= 1 << (b % 64)
	}
}

func (f *bloom) mayContain(s string) bool {
	if f.bits == nil {
		return false
	}
	h1, h2 := f.hashes(s)
	for i := range uint64(bloomHashes) {
		b := (h1 + i*h2) % bloomBits
		if f.bits[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

func (f *bloom) hashes(s string) (uint64, uint64) {
	h := maphash.String(f.seed, s)
	return h, h>>32 | h<<32 | 1
}
