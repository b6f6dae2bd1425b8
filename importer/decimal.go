package importer

import (
	"errors"
	"math"
	"strconv"
)

// Decimal is an exact decimal amount with up to six fraction digits, stored
// as an integer number of millionths. The data set's prices have at most
// three fraction digits (0.001 is a real price there).
type Decimal int64

// decimalScale is the number of Decimal units in 1.
const decimalScale = 1_000_000

// maxFraction is the number of fraction digits a Decimal can hold.
const maxFraction = 6

var (
	errDecimalSyntax = errors.New("not a decimal number")
	errDecimalRange  = errors.New("out of range")
	errDecimalDigits = errors.New("more than 6 fraction digits")
)

// ParseDecimal parses an optionally signed decimal number such as "2.55",
// "-11062.06", "0.001" or "3". Exponents, thousands separators, spaces and
// more than six fraction digits are refused.
func ParseDecimal(s string) (Decimal, error) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	var v int64
	digits, frac := 0, -1
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && frac < 0:
			frac = 0
			continue
		case c < '0' || c > '9':
			return 0, errDecimalSyntax
		}
		if frac >= 0 {
			if frac == maxFraction {
				return 0, errDecimalDigits
			}
			frac++
		}
		digits++
		if v > (math.MaxInt64-9)/10 {
			return 0, errDecimalRange
		}
		v = v*10 + int64(c-'0')
	}
	if digits == 0 {
		return 0, errDecimalSyntax
	}
	if frac < 0 {
		frac = 0
	}
	for ; frac < maxFraction; frac++ {
		if v > math.MaxInt64/10 {
			return 0, errDecimalRange
		}
		v *= 10
	}
	if neg {
		v = -v
	}
	return Decimal(v), nil
}

// String returns the canonical form: at least two fraction digits, no
// trailing zeros beyond them ("2.55", "0.001", "3.00", "-11062.06").
func (d Decimal) String() string {
	return string(d.Append(nil))
}

// Append appends the canonical form of d to b.
func (d Decimal) Append(b []byte) []byte {
	v := int64(d)
	if v < 0 {
		b = append(b, '-')
	}
	u := uint64(v)
	if v < 0 {
		u = uint64(-v) // two's complement also handles MinInt64
	}
	b = strconv.AppendUint(b, u/decimalScale, 10)
	f := u % decimalScale
	var buf [maxFraction]byte
	for i := maxFraction - 1; i >= 0; i-- {
		buf[i] = byte('0' + f%10)
		f /= 10
	}
	n := maxFraction
	for n > 2 && buf[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, buf[:n]...)
}

// Mul returns d × n, and false on overflow.
func (d Decimal) Mul(n int64) (Decimal, bool) {
	if d == 0 || n == 0 {
		return 0, true
	}
	p := int64(d) * n
	if p/n != int64(d) || (int64(d) == -1 && n == math.MinInt64) || (n == -1 && int64(d) == math.MinInt64) {
		return 0, false
	}
	return Decimal(p), true
}

// Cents returns d in hundredths, and false when d has more than two
// fraction digits (it is not a whole number of cents).
func (d Decimal) Cents() (int64, bool) {
	const unit = decimalScale / 100
	return int64(d) / unit, int64(d)%unit == 0
}
