package importer

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func london(t testing.TB) *time.Location {
	t.Helper()
	loc, err := LoadRetailerLocation()
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseRow(t *testing.T) {
	loc := london(t)
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	fields := func(s string) []string { return strings.Split(s, "|") }
	tests := []struct {
		name    string
		fields  string
		want    Row
		wantErr string // substring of the error; "" = no error
	}{
		{
			name:   "winter line: GMT equals UTC",
			fields: "536365|85123A|WHITE HANGING HEART T-LIGHT HOLDER|6|2010-12-01 08:26:00|2.55|17850.0|United Kingdom",
			want: Row{Line: 7, InvoiceNo: "536365", StockCode: "85123A", Description: "WHITE HANGING HEART T-LIGHT HOLDER",
				Quantity: 6, InvoiceDate: utc("2010-12-01T08:26:00Z"), UnitPrice: 2_550_000, CustomerID: "17850", Country: "United Kingdom"},
		},
		{
			name:   "summer line: BST is UTC+1",
			fields: "549973|85152|HAND OVER THE CHOCOLATE   SIGN |24|2011-04-13 14:30:00|2.1|17873.0|United Kingdom",
			want: Row{Line: 7, InvoiceNo: "549973", StockCode: "85152", Description: "HAND OVER THE CHOCOLATE   SIGN",
				Quantity: 24, InvoiceDate: utc("2011-04-13T13:30:00Z"), UnitPrice: 2_100_000, CustomerID: "17873", Country: "United Kingdom"},
		},
		{
			name:   "cancellation, integer customer id, three fraction digits",
			fields: "C536379|D|Discount|-1|2010-12-01 09:41:00|0.001|14527|United Kingdom",
			want: Row{Line: 7, InvoiceNo: "C536379", StockCode: "D", Description: "Discount",
				Quantity: -1, InvoiceDate: utc("2010-12-01T09:41:00Z"), UnitPrice: 1_000, CustomerID: "14527", Country: "United Kingdom"},
		},
		{
			name:   "guest line, empty description",
			fields: "536414|22139||56|2010-12-01 11:52:00|0.0||United Kingdom",
			want: Row{Line: 7, InvoiceNo: "536414", StockCode: "22139", Quantity: 56,
				InvoiceDate: utc("2010-12-01T11:52:00Z"), Country: "United Kingdom"},
		},
		{
			name:   "adjustment with a negative price",
			fields: "A563186|B|Adjust bad debt|1|2011-08-12 14:51:00|-11062.06||United Kingdom",
			want: Row{Line: 7, InvoiceNo: "A563186", StockCode: "B", Description: "Adjust bad debt", Quantity: 1,
				InvoiceDate: utc("2011-08-12T13:51:00Z"), UnitPrice: -11_062_060_000, Country: "United Kingdom"},
		},
		{name: "bad invoice number", fields: "53x6365|A|d|6|2010-12-01 08:26:00|2.55|17850.0|UK", wantErr: `line 7: column InvoiceNo: "53x6365"`},
		{name: "two-letter prefix", fields: "CC536365|A|d|6|2010-12-01 08:26:00|2.55|17850.0|UK", wantErr: "column InvoiceNo"},
		{name: "empty invoice number", fields: "|A|d|6|2010-12-01 08:26:00|2.55|17850.0|UK", wantErr: "column InvoiceNo"},
		{name: "empty stock code", fields: "536365| |d|6|2010-12-01 08:26:00|2.55|17850.0|UK", wantErr: "column StockCode"},
		{name: "quantity not a number", fields: "536365|A|d|six|2010-12-01 08:26:00|2.55|17850.0|UK", wantErr: `line 7: column Quantity: "six": not an integer`},
		{name: "fractional quantity", fields: "536365|A|d|1.5|2010-12-01 08:26:00|2.55|17850.0|UK", wantErr: "column Quantity"},
		{name: "US date", fields: "536365|A|d|6|12/1/2010 8:26|2.55|17850.0|UK", wantErr: "column InvoiceDate"},
		{name: "date without seconds", fields: "536365|A|d|6|2010-12-01 08:26|2.55|17850.0|UK", wantErr: "column InvoiceDate"},
		{name: "float price with exponent", fields: "536365|A|d|6|2010-12-01 08:26:00|2.5e1|17850.0|UK", wantErr: "column UnitPrice"},
		{name: "price with seven fraction digits", fields: "536365|A|d|6|2010-12-01 08:26:00|0.0000001|17850.0|UK", wantErr: "more than 6 fraction digits"},
		{name: "absurd price", fields: "536365|A|d|6|2010-12-01 08:26:00|99999999|17850.0|UK", wantErr: "column UnitPrice"},
		{name: "fractional customer id", fields: "536365|A|d|6|2010-12-01 08:26:00|2.55|17850.5|UK", wantErr: "column CustomerID"},
		{name: "customer id not a number", fields: "536365|A|d|6|2010-12-01 08:26:00|2.55|abc|UK", wantErr: "column CustomerID"},
		{name: "seven fields", fields: "536365|A|d|6|2010-12-01 08:26:00|2.55|17850.0", wantErr: "line 7: 7 fields, want 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRow(fields(tt.fields), 7, loc)
			if tt.wantErr != "" {
				var pe *ParseError
				if !errors.As(err, &pe) || pe.Line != 7 {
					t.Fatalf("err = %v, want a *ParseError on line 7", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %q, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNormaliseCustomerID(t *testing.T) {
	for in, want := range map[string]string{"17850.0": "17850", "17850": "17850", "17850.00": "17850", "": "", "007": "7", "0.0": "0"} {
		got, ok := normaliseCustomerID(in)
		if !ok || got != want {
			t.Errorf("normaliseCustomerID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"17850.1", ".0", "1e5", "-5", "1234567890123"} {
		if got, ok := normaliseCustomerID(in); ok {
			t.Errorf("normaliseCustomerID(%q) = %q, want refusal", in, got)
		}
	}
}

func readAll(t *testing.T, r io.Reader) []Row {
	t.Helper()
	rd, err := NewReader(r, london(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var rows []Row
	for {
		row, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
}

// TestReaderPlainAndGzip: the format is detected from the content, not the
// name, and both give the same rows with the same line numbers.
func TestReaderPlainAndGzip(t *testing.T) {
	plain, err := os.ReadFile("testdata/online-retail-slice.csv")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()

	fromPlain := readAll(t, bytes.NewReader(plain))
	fromGzip := readAll(t, &gz)
	if diff := cmp.Diff(fromPlain, fromGzip); diff != "" {
		t.Errorf("gzip rows differ from plain rows (-plain +gzip):\n%s", diff)
	}
	if n := bytes.Count(plain, []byte("\n")) - 1; len(fromPlain) != n {
		t.Errorf("%d rows, want %d", len(fromPlain), n)
	}
	for i, r := range fromPlain {
		if r.Line != i+2 {
			t.Fatalf("row %d has line %d, want %d", i, r.Line, i+2)
		}
	}
	// The cached date of a run of lines is the same as a parsed one.
	if !fromPlain[0].InvoiceDate.Equal(time.Date(2010, 12, 1, 14, 32, 0, 0, time.UTC)) {
		t.Errorf("first row date %v", fromPlain[0].InvoiceDate)
	}
}

func TestReaderHeader(t *testing.T) {
	loc := london(t)
	t.Run("byte order mark, other column order, CRLF", func(t *testing.T) {
		in := "\uFEFFCountry,CustomerID,UnitPrice,InvoiceDate,Quantity,Description,StockCode,InvoiceNo\r\n" +
			"France,12345.0,1.25,2011-06-01 10:00:00,3,\"MUG, RED\",22000,560000\r\n"
		rows := readAll(t, strings.NewReader(in))
		want := []Row{{Line: 2, InvoiceNo: "560000", StockCode: "22000", Description: "MUG, RED", Quantity: 3,
			InvoiceDate: time.Date(2011, 6, 1, 9, 0, 0, 0, time.UTC), UnitPrice: 1_250_000, CustomerID: "12345", Country: "France"}}
		if diff := cmp.Diff(want, rows); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})
	for name, tc := range map[string]struct{ in, want string }{
		"missing column": {"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,Country\n", "line 1: header lacks column(s) CustomerID"},
		"empty file":     {"", "line 1: empty file"},
		"not a csv":      {"\x1f\x8bnot really gzip", "gzip"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(tc.in), loc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReaderMalformed(t *testing.T) {
	loc := london(t)
	read := func(in io.Reader) error {
		rd, err := NewReader(in, loc)
		if err != nil {
			return err
		}
		for {
			if _, err := rd.Read(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	}
	f, err := os.Open("testdata/online-retail-malformed.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = read(f)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 5 || pe.Column != "Quantity" || pe.Value != "six" {
		t.Fatalf("err = %#v, want a *ParseError on line 5, column Quantity", err)
	}
	if want := `line 5: column Quantity: "six": not an integer`; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}

	const header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
	const good = "536365,A,d,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
	for name, tc := range map[string]struct {
		in   string
		line int
	}{
		"bare quote":      {header + good + "536365,A,d\"x,6,2010-12-01 08:26:00,2.55,17850.0,UK\n", 3},
		"too many fields": {header + good + good + "536365,A,d,6,2010-12-01 08:26:00,2.55,17850.0,UK,extra\n", 4},
		"too few fields":  {header + "536365,A,d,6\n", 2},
	} {
		t.Run(name, func(t *testing.T) {
			err := read(strings.NewReader(tc.in))
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line != tc.line {
				t.Fatalf("err = %v, want a *ParseError on line %d", err, tc.line)
			}
		})
	}
}

func TestDecimal(t *testing.T) {
	for in, want := range map[string]string{
		"2.55": "2.55", "0.001": "0.001", "3": "3.00", "-11062.06": "-11062.06", "+1.5": "1.50",
		"0.000001": "0.000001", "007.10": "7.10", "0": "0.00", "-0.5": "-0.50", "1.": "1.00", ".5": "0.50",
	} {
		d, err := ParseDecimal(in)
		if err != nil {
			t.Errorf("ParseDecimal(%q): %v", in, err)
			continue
		}
		if got := d.String(); got != want {
			t.Errorf("ParseDecimal(%q) = %s, want %s", in, got, want)
		}
		if dd := d.toDomain(); dd.String() != want {
			t.Errorf("toDomain(%q) = %s, want %s", in, dd, want)
		}
	}
	for _, in := range []string{"", "-", ".", "1.2.3", "1e3", "1,5", " 1", "0.0000001", "99999999999999999999", "NaN"} {
		if d, err := ParseDecimal(in); err == nil {
			t.Errorf("ParseDecimal(%q) = %s, want an error", in, d)
		}
	}
	if v, ok := Decimal(2_550_000).Mul(6); !ok || v.String() != "15.30" {
		t.Errorf("2.55 × 6 = %s, %v", v, ok)
	}
	if _, ok := Decimal(1 << 62).Mul(4); ok {
		t.Error("overflow not detected")
	}
}

// FuzzParseRow: any fields give a row or a *ParseError naming the line,
// never a panic; a parsed row respects the documented forms.
func FuzzParseRow(f *testing.F) {
	loc := london(f)
	f.Add("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "6", "2010-12-01 08:26:00", "2.55", "17850.0", "United Kingdom")
	f.Add("C536379", "D", "Discount", "-1", "2011-10-30 01:30:00", "0.001", "", "")
	f.Add("A563185", "B", "Adjust bad debt", "1", "2011-08-12 14:50:00", "-11062.06", "14527", "x")
	f.Add("", "", "", "", "", "", "", "")
	f.Add("9", "\x00", "\xff", "+0", "2011-02-29 25:61:61", "-.", ".0", " ")
	f.Fuzz(func(t *testing.T, no, sku, desc, qty, date, price, cid, country string) {
		row, err := ParseRow([]string{no, sku, desc, qty, date, price, cid, country}, 42, loc)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line != 42 || pe.Error() == "" {
				t.Fatalf("error %v is not a *ParseError on line 42", err)
			}
			return
		}
		if !validInvoiceNo(row.InvoiceNo) || row.StockCode == "" || row.InvoiceDate.Location() != time.UTC {
			t.Fatalf("bad row %+v", row)
		}
		if back, err := ParseDecimal(row.UnitPrice.String()); err != nil || back != row.UnitPrice {
			t.Fatalf("price %s does not round-trip: %v, %v", row.UnitPrice, back, err)
		}
		if row.CustomerID != "" && !allDigits(row.CustomerID) {
			t.Fatalf("customer id %q", row.CustomerID)
		}
	})
}

// FuzzReader: any bytes give rows or an error, never a panic.
func FuzzReader(f *testing.F) {
	loc := london(f)
	if b, err := os.ReadFile("testdata/online-retail-malformed.csv"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n\"x"))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rd, err := NewReader(bytes.NewReader(b), loc)
		if err != nil {
			return
		}
		defer rd.Close()
		for range 10000 {
			if _, err := rd.Read(); err != nil {
				return
			}
		}
	})
}
