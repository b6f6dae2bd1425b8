package domain

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
)

func TestParseDecimal(t *testing.T) {
	good := []struct{ in, out string }{
		{"0", "0"}, {"-0", "0"}, {"+7", "7"}, {"12", "12"}, {"12.50", "12.50"}, {"-0.5", "-0.5"}, {"0.001", "0.001"},
		{"007.10", "7.10"}, {"123456789012345678", "123456789012345678"}, {"0.000000000001", "0.000000000001"},
		{"-12345678901234567.8", "-12345678901234567.8"}, {"000000000000000000000001", "1"},
	}
	for _, c := range good {
		d, err := ParseDecimal(c.in)
		if err != nil {
			t.Errorf("ParseDecimal(%q): %v", c.in, err)
			continue
		}
		if d.String() != c.out {
			t.Errorf("ParseDecimal(%q).String() = %q, want %q", c.in, d.String(), c.out)
		}
	}
	bad := []string{"", "-", "+", ".", "1.", ".5", "1e3", "1,000", " 1", "1 ", "0x10", "1.2.3", "--1", "NaN", "Inf",
		"1234567890123456789", "0.1234567890123", "½", "1_000"}
	for _, in := range bad {
		if d, err := ParseDecimal(in); err == nil {
			t.Errorf("ParseDecimal(%q) = %v, want an error", in, d)
		}
	}
	if _, err := ParseDecimal("99999999999999999999"); !errors.Is(err, ErrDecimalOverflow) {
		t.Errorf("overflow error = %v", err)
	}
}

func TestDecimalArithmetic(t *testing.T) {
	cases := []struct {
		op, a, b, want string
	}{
		{"add", "0.1", "0.2", "0.3"},
		{"add", "2.55", "1.7", "4.25"},
		{"add", "-1.10", "1.1", "0.00"},
		{"sub", "24.65", "17.85", "6.80"},
		{"sub", "1", "2.005", "-1.005"},
		{"mul", "6", "2.55", "15.30"},
		{"mul", "0.5", "0.5", "0.25"},
		{"mul", "-3", "0.85", "-2.55"},
		{"mul", "0.000001", "0.0000010", "0.000000000001"},
		{"mul", "0.0000010", "0.0000010", "0.000000000001"}, // scale 14 reduced by dropping zeros
	}
	for _, c := range cases {
		a, b := dec(c.a), dec(c.b)
		var got Decimal
		var err error
		switch c.op {
		case "add":
			got, err = a.Add(b)
		case "sub":
			got, err = a.Sub(b)
		case "mul":
			got, err = a.Mul(b)
		}
		if err != nil || got.String() != c.want {
			t.Errorf("%s %s %s = %v, %v; want %s", c.a, c.op, c.b, got, err, c.want)
		}
	}
	overflows := []func() (Decimal, error){
		func() (Decimal, error) { return NewDecimal(math.MaxInt64, 0).Add(DecimalFromInt(1)) },
		func() (Decimal, error) { return NewDecimal(math.MinInt64, 0).Add(DecimalFromInt(-1)) },
		func() (Decimal, error) { return NewDecimal(math.MinInt64, 0).Neg() },
		func() (Decimal, error) { return NewDecimal(math.MinInt64, 0).Sub(DecimalFromInt(1)) },
		func() (Decimal, error) { return DecimalFromInt(1).Sub(NewDecimal(math.MinInt64, 0)) },
		func() (Decimal, error) { return dec("4000000000").Mul(dec("4000000000")) },
		func() (Decimal, error) { return dec("-4000000000").Mul(dec("4000000000")) },
		func() (Decimal, error) { return dec("100000000000000000").Add(dec("0.01")) }, // rescaling overflows
		func() (Decimal, error) { return dec("0.000001").Mul(dec("0.0000001")) },      // scale 13, not reducible
	}
	for i, f := range overflows {
		if d, err := f(); !errors.Is(err, ErrDecimalOverflow) {
			t.Errorf("overflow case %d: %v, %v", i, d, err)
		}
	}
	if d, err := NewDecimal(math.MinInt64+1, 0).Mul(DecimalFromInt(-1)); err != nil || d.String() != "9223372036854775807" {
		t.Errorf("(minInt64+1) × -1 = %v, %v", d, err)
	}
	if d, err := NewDecimal(-1<<62, 0).Mul(DecimalFromInt(2)); err != nil || d.String() != "-9223372036854775808" {
		t.Errorf("-2^62 × 2 = %v, %v", d, err)
	}
}

func TestDecimalCompareAndMisc(t *testing.T) {
	cmps := []struct {
		a, b string
		want int
	}{
		{"2.5", "2.50", 0}, {"2.49", "2.5", -1}, {"-1", "-0.5", -1}, {"10", "9.999", 1}, {"0", "-0", 0},
		{"100000000000000000", "0.01", 1}, {"-100000000000000000", "0.01", -1}, // rescale overflows: compared by sign and magnitude
		{"0.01", "100000000000000000", -1}, {"0.01", "-100000000000000000", 1},
	}
	for _, c := range cmps {
		if got := dec(c.a).Cmp(dec(c.b)); got != c.want {
			t.Errorf("Cmp(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
		if eq := dec(c.a).Equal(dec(c.b)); eq != (c.want == 0) {
			t.Errorf("Equal(%s, %s) = %v", c.a, c.b, eq)
		}
	}
	if d := NewDecimal(-5, 3); d.String() != "-0.005" || d.Scale() != 3 || d.Sign() != -1 || d.IsZero() {
		t.Errorf("NewDecimal(-5, 3) = %v", d)
	}
	if d := NewDecimal(5, -1); d.String() != "5" {
		t.Errorf("NewDecimal(5, -1) = %v", d)
	}
	if d := NewDecimal(5, 99); d.Scale() != MaxDecimalScale {
		t.Errorf("NewDecimal(5, 99) scale %d", d.Scale())
	}
	if d := NewDecimal(math.MinInt64, 2); d.String() != "-92233720368547758.08" {
		t.Errorf("min int64 text %q", d.String())
	}
	var zero Decimal
	if zero.String() != "0" || !zero.IsZero() || zero.Sign() != 0 {
		t.Errorf("zero value = %q", zero.String())
	}
	for _, c := range []string{"EUR", "GBP", "USD"} {
		if !ValidCurrency(c) {
			t.Errorf("ValidCurrency(%q) = false", c)
		}
	}
	for _, c := range []string{"", "eur", "EU", "EURO", "E1R", "€"} {
		if ValidCurrency(c) {
			t.Errorf("ValidCurrency(%q) = true", c)
		}
	}
}

func TestDecimalJSON(t *testing.T) {
	type doc struct {
		A Decimal  `json:"a"`
		B *Decimal `json:"b,omitempty"`
	}
	b, err := json.Marshal(doc{A: dec("12.50"), B: ptr(dec("-0.001"))})
	if err != nil || string(b) != `{"a":"12.50","b":"-0.001"}` {
		t.Fatalf("marshal = %s, %v", b, err)
	}
	var d doc
	if err := json.Unmarshal([]byte(`{"a":"12.50","b":3.10}`), &d); err != nil || d.A.String() != "12.50" || d.B.String() != "3.10" {
		t.Errorf("unmarshal = %+v, %v", d, err)
	}
	if err := json.Unmarshal([]byte(`{"a":null}`), &d); err != nil {
		t.Errorf("null: %v", err)
	}
	for _, in := range []string{`{"a":"1e3"}`, `{"a":1e3}`, `{"a":"x"}`, `{"a":true}`, `{"a":"\u0031\u002e"}`, `{"a":"12" }x`} {
		var d doc
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("unmarshal %s: no error (%v)", in, d.A)
		}
	}
	txt, _ := dec("7.5").MarshalText()
	var back Decimal
	if err := back.UnmarshalText(txt); err != nil || back.String() != "7.5" {
		t.Errorf("text round trip = %v, %v", back, err)
	}
	if err := back.UnmarshalText([]byte("x")); err == nil {
		t.Error("UnmarshalText accepted x")
	}
}

// FuzzParseDecimal: parsing never panics; whatever parses prints back to a
// text that parses to the same value, agrees with math/big's exact reading,
// and arithmetic on it is exact or reports overflow.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "12.50", "-0.001", "123456789012345678", "1.", ".5", "1e3", "-922337203685477580.8", "+0.000000000001", "", "--"} {
		f.Add(s, "2.55")
	}
	f.Fuzz(func(t *testing.T, s, other string) {
		d, err := ParseDecimal(s)
		if err != nil {
			return
		}
		txt := d.String()
		d2, err := ParseDecimal(txt)
		if err != nil || d2 != d {
			t.Fatalf("%q → %q → %v, %v", s, txt, d2, err)
		}
		r, ok := new(big.Rat).SetString(strings.TrimPrefix(s, "+"))
		if !ok {
			t.Fatalf("big.Rat cannot read %q which ParseDecimal accepted", s)
		}
		if exact := ratOf(d); exact.Cmp(r) != 0 {
			t.Fatalf("%q parsed as %s, big.Rat says %s", s, txt, r.RatString())
		}
		o, err := ParseDecimal(other)
		if err != nil {
			return
		}
		check := func(op string, got Decimal, err error, want *big.Rat) {
			if err != nil {
				if !errors.Is(err, ErrDecimalOverflow) {
					t.Fatalf("%s %s %s: unexpected error %v", s, op, other, err)
				}
				return
			}
			if ratOf(got).Cmp(want) != 0 {
				t.Fatalf("%s %s %s = %s, want %s", s, op, other, got, want.RatString())
			}
		}
		sum, err := d.Add(o)
		check("+", sum, err, new(big.Rat).Add(ratOf(d), ratOf(o)))
		diff, err := d.Sub(o)
		check("-", diff, err, new(big.Rat).Sub(ratOf(d), ratOf(o)))
		prod, err := d.Mul(o)
		check("×", prod, err, new(big.Rat).Mul(ratOf(d), ratOf(o)))
		if got, want := d.Cmp(o), ratOf(d).Cmp(ratOf(o)); got != want {
			t.Fatalf("Cmp(%s, %s) = %d, want %d", s, other, got, want)
		}
		var j Decimal
		b, _ := json.Marshal(d)
		if err := json.Unmarshal(b, &j); err != nil || j != d {
			t.Fatalf("JSON round trip of %s: %s → %v, %v", s, b, j, err)
		}
	})
}

func ratOf(d Decimal) *big.Rat {
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale())), nil)
	r := new(big.Rat).SetFrac(big.NewInt(0), big.NewInt(1))
	num, _ := new(big.Int).SetString(strings.Replace(d.String(), ".", "", 1), 10)
	return r.SetFrac(num, den)
}
