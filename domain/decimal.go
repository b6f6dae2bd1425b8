package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// MaxDecimalScale is the largest number of fractional digits a Decimal
// keeps. Parsing more digits than that is refused; products whose scale
// would exceed it are reduced only when the dropped digits are zeros.
const MaxDecimalScale = 12

// Decimal is an exact decimal number: coefficient × 10^-scale with an int64
// coefficient. Money amounts, prices and quantities use it; there is no
// float money anywhere in the domain. Its JSON form is a string ("12.50"),
// and it keeps the scale it was written with ("2.50" stays "2.50").
//
// The zero value is 0. Arithmetic that would overflow int64 returns an
// error instead of a wrong result. Equal compares numerically (2.5 equals
// 2.50), which is also what go-cmp uses.
type Decimal struct {
	coef  int64
	scale int32
}

// ErrDecimalOverflow is wrapped by Decimal arithmetic whose exact result does
// not fit.
var ErrDecimalOverflow = errors.New("decimal overflow")

var pow10 = func() [19]int64 {
	var p [19]int64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// NewDecimal returns coef × 10^-scale; scale must be in [0, MaxDecimalScale]
// (it is clamped otherwise).
func NewDecimal(coef int64, scale int) Decimal {
	if scale < 0 {
		scale = 0
	}
	if scale > MaxDecimalScale {
		scale = MaxDecimalScale
	}
	return Decimal{coef: coef, scale: int32(scale)}
}

// DecimalFromInt returns the integer n as a Decimal with scale 0.
func DecimalFromInt(n int64) Decimal { return Decimal{coef: n} }

// ParseDecimal parses an exact decimal: an optional sign, digits, an
// optional point and fraction digits ("12", "-0.5", "1234.5678"). No
// exponent, no thousands separators, no spaces, at most MaxDecimalScale
// fraction digits and at most 18 significant digits overall.
func ParseDecimal(s string) (Decimal, error) {
	orig := s
	if s == "" {
		return Decimal{}, fmt.Errorf("invalid decimal %q: empty", orig)
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return Decimal{}, fmt.Errorf("invalid decimal %q: no digits", orig)
	}
	if hasPoint && frac == "" {
		return Decimal{}, fmt.Errorf("invalid decimal %q: no digits after the point", orig)
	}
	if intPart == "" {
		return Decimal{}, fmt.Errorf("invalid decimal %q: no digits before the point", orig)
	}
	if len(frac) > MaxDecimalScale {
		return Decimal{}, fmt.Errorf("invalid decimal %q: more than %d fraction digits", orig, MaxDecimalScale)
	}
	digits := intPart + frac
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return Decimal{}, fmt.Errorf("invalid decimal %q: unexpected character %q", orig, digits[i])
		}
	}
	trimmed := strings.TrimLeft(digits, "0")
	if len(trimmed) > 18 {
		return Decimal{}, fmt.Errorf("invalid decimal %q: %w", orig, ErrDecimalOverflow)
	}
	var coef int64
	if trimmed != "" {
		u, err := strconv.ParseInt(trimmed, 10, 64)
		if err != nil {
			return Decimal{}, fmt.Errorf("invalid decimal %q: %w", orig, ErrDecimalOverflow)
		}
		coef = u
	}
	if neg {
		coef = -coef
	}
	return Decimal{coef: coef, scale: int32(len(frac))}, nil
}

// String returns the exact decimal text with the Decimal's scale ("-0.50").
func (d Decimal) String() string { return string(d.Append(make([]byte, 0, 24))) }

// Append appends String's form of d to b (without allocating when b has
// room).
func (d Decimal) Append(b []byte) []byte {
	neg := d.coef < 0
	var u uint64
	if neg {
		u = uint64(-(d.coef + 1)) + 1 // safe for math.MinInt64
		b = append(b, '-')
	} else {
		u = uint64(d.coef)
	}
	var digits [20]byte
	ds := strconv.AppendUint(digits[:0], u, 10)
	sc := int(d.scale)
	if sc <= 0 {
		return append(b, ds...)
	}
	if len(ds) <= sc {
		b = append(b, '0', '.')
		for range sc - len(ds) {
			b = append(b, '0')
		}
		return append(b, ds...)
	}
	b = append(b, ds[:len(ds)-sc]...)
	b = append(b, '.')
	return append(b, ds[len(ds)-sc:]...)
}

// Scale returns the number of fraction digits d keeps.
func (d Decimal) Scale() int { return int(d.scale) }

// Sign returns -1, 0 or +1.
func (d Decimal) Sign() int {
	switch {
	case d.coef < 0:
		return -1
	case d.coef > 0:
		return 1
	}
	return 0
}

// IsZero reports whether d is numerically zero.
func (d Decimal) IsZero() bool { return d.coef == 0 }

// Neg returns -d.
func (d Decimal) Neg() (Decimal, error) {
	if d.coef == math.MinInt64 {
		return Decimal{}, ErrDecimalOverflow
	}
	return Decimal{coef: -d.coef, scale: d.scale}, nil
}

// rescale returns d's coefficient at a larger scale.
func (d Decimal) rescale(scale int32) (int64, error) {
	if scale == d.scale {
		return d.coef, nil
	}
	return mul64(d.coef, pow10[scale-d.scale])
}

func mul64(a, b int64) (int64, error) {
	if a == 0 || b == 0 {
		return 0, nil
	}
	neg := (a < 0) != (b < 0)
	ua, ub := absU(a), absU(b)
	hi, lo := bits.Mul64(ua, ub)
	if hi != 0 {
		return 0, ErrDecimalOverflow
	}
	if neg {
		if lo > 1<<63 {
			return 0, ErrDecimalOverflow
		}
		return int64(-lo), nil
	}
	if lo > math.MaxInt64 {
		return 0, ErrDecimalOverflow
	}
	return int64(lo), nil
}

func absU(a int64) uint64 {
	if a < 0 {
		return uint64(-(a + 1)) + 1
	}
	return uint64(a)
}

func align(a, b Decimal) (int64, int64, int32, error) {
	s := max(a.scale, b.scale)
	x, err := a.rescale(s)
	if err != nil {
		return 0, 0, 0, err
	}
	y, err := b.rescale(s)
	if err != nil {
		return 0, 0, 0, err
	}
	return x, y, s, nil
}

// Add returns d + o exactly, at the larger of the two scales.
func (d Decimal) Add(o Decimal) (Decimal, error) {
	x, y, s, err := align(d, o)
	if err != nil {
		return Decimal{}, err
	}
	r := x + y
	if (x > 0 && y > 0 && r < 0) || (x < 0 && y < 0 && r >= 0) {
		return Decimal{}, ErrDecimalOverflow
	}
	return Decimal{coef: r, scale: s}, nil
}

// Sub returns d - o exactly, at the larger of the two scales.
func (d Decimal) Sub(o Decimal) (Decimal, error) {
	n, err := o.Neg()
	if err != nil {
		return Decimal{}, err
	}
	return d.Add(n)
}

// Mul returns d × o exactly. The result's scale is the sum of the scales,
// reduced (by dropping trailing zeros only) to MaxDecimalScale; a product
// that cannot be represented exactly returns ErrDecimalOverflow.
func (d Decimal) Mul(o Decimal) (Decimal, error) {
	c, err := mul64(d.coef, o.coef)
	if err != nil {
		return Decimal{}, err
	}
	s := d.scale + o.scale
	for s > MaxDecimalScale {
		if c%10 != 0 {
			return Decimal{}, ErrDecimalOverflow
		}
		c /= 10
		s--
	}
	return Decimal{coef: c, scale: s}, nil
}

// Cmp compares numerically: -1 if d < o, 0 if equal, +1 if d > o.
func (d Decimal) Cmp(o Decimal) int {
	x, y, _, err := align(d, o)
	if err != nil {
		// Rescaling overflowed: the operand with the larger scale fits, so
		// the other one is larger in magnitude; compare by sign then.
		if d.scale > o.scale {
			return -o.Sign()
		}
		return d.Sign()
	}
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// Equal reports whether d and o are numerically equal (2.5 equals 2.50).
func (d Decimal) Equal(o Decimal) bool { return d.Cmp(o) == 0 }

// MarshalJSON writes the decimal as a JSON string.
func (d Decimal) MarshalJSON() ([]byte, error) {
	return []byte(`"` + d.String() + `"`), nil
}

// plainDecimalString reports whether s is a JSON string of sign, digit and
// point characters only (the stored form; decoded without encoding/json on
// the event read path).
func plainDecimalString(s string) bool {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; (c < '0' || c > '9') && c != '.' && c != '-' && c != '+' {
			return false
		}
	}
	return true
}

// UnmarshalJSON reads a JSON string ("12.50") or, leniently, a JSON number
// literal (12.50, parsed from its text, never through a float).
func (d *Decimal) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' && plainDecimalString(s) {
		s = s[1 : len(s)-1] // no escapes: what json.Unmarshal would return
	} else if len(s) >= 2 && s[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		s = str
	}
	v, err := ParseDecimal(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Decimal) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Decimal) UnmarshalText(b []byte) error {
	v, err := ParseDecimal(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ValidCurrency reports whether s looks like an ISO 4217 code: three
// upper-case ASCII letters ("EUR", "GBP").
func ValidCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
