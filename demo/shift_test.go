package demo

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/crm-es/crm/importer"
)

func TestShiftSlice(t *testing.T) {
	loc, err := importer.LoadRetailerLocation()
	if err != nil {
		t.Fatal(err)
	}
	const csvText = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n" +
		"536380,22961,JAM MAKING SET PRINTED,24,2010-12-01 09:41:00,1.45,17809.0,United Kingdom\n" +
		"581587,22613,\"PACK OF 20 SPACEBOY NAPKINS, BLUE\",12,2011-12-09 12:50:00,0.85,12680.0,France\n" +
		"550000,22423,REGENCY CAKESTAND 3 TIER,1,2011-04-14 10:00:00,12.75,17809.0,United Kingdom\n"
	last := time.Date(2011, 12, 9, 12, 50, 0, 0, loc)
	tests := []struct {
		name      string
		endBy     time.Time
		wantWeeks int
	}{
		{"today", time.Date(2026, 11, 22, 19, 0, 0, 0, time.UTC), 780},
		{"a week and a minute later: one week", last.Add(7*24*time.Hour + time.Minute), 1},
		{"exactly a week later: none", last.Add(7 * 24 * time.Hour), 0},
		{"just after the last invoice: none", last.Add(time.Minute), 0},
		{"exactly at the last invoice: one back", last, -1},
		{"before the slice: moved back", time.Date(2011, 6, 1, 0, 0, 0, 0, time.UTC), -28},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, in := range [][]byte{[]byte(csvText), gz(t, csvText)} {
				out, weeks, err := ShiftSlice(in, tt.endBy, loc)
				if err != nil {
					t.Fatal(err)
				}
				if weeks != tt.wantWeeks {
					t.Errorf("weeks = %d, want %d", weeks, tt.wantWeeks)
				}
				recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
				if err != nil || len(recs) != 4 {
					t.Fatalf("output: %d records, %v\n%s", len(recs), err, out)
				}
				orig, _ := csv.NewReader(strings.NewReader(csvText)).ReadAll()
				var newLast time.Time
				for i := 1; i < len(recs); i++ {
					was, _ := time.ParseInLocation(importer.DateLayout, orig[i][4], loc)
					now, err := time.ParseInLocation(importer.DateLayout, recs[i][4], loc)
					if err != nil {
						t.Fatalf("row %d: %v", i, err)
					}
					if now.Weekday() != was.Weekday() || now.Hour() != was.Hour() || now.Minute() != was.Minute() {
						t.Errorf("row %d: %s -> %s: weekday or time of day changed", i, was, now)
					}
					for j := range recs[i] {
						if j != 4 && recs[i][j] != orig[i][j] {
							t.Errorf("row %d column %d changed: %q -> %q", i, j, orig[i][j], recs[i][j])
						}
					}
					if now.After(newLast) {
						newLast = now
					}
				}
				if d := tt.endBy.Sub(newLast); d <= 0 || d > 7*24*time.Hour+time.Hour { // +1 h: a DST change in between
					t.Errorf("last invoice %s is %s before endBy %s, want within a week", newLast, d, tt.endBy)
				}
			}
		})
	}
}

func TestShiftSliceBadInput(t *testing.T) {
	loc, err := importer.LoadRetailerLocation()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", "empty"},
		{"no date column", "InvoiceNo,CustomerID\n1,2\n", "no InvoiceDate column"},
		{"bad date", "InvoiceNo,InvoiceDate\n1,12/1/2010 8:26\n", "row 2: InvoiceDate"},
		{"ragged", "InvoiceNo,InvoiceDate\n1\n", "read the slice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ShiftSlice([]byte(tt.in), now, loc)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func FuzzShiftSlice(f *testing.F) {
	loc, err := importer.LoadRetailerLocation()
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("InvoiceNo,InvoiceDate\n1,2011-12-09 12:50:00\n"), int64(0))
	f.Add([]byte("InvoiceNo,InvoiceDate\n1,2011-03-27 01:30:00\n2,2010-10-31 01:30:00\n"), int64(1_800_000_000))
	f.Fuzz(func(t *testing.T, in []byte, endUnix int64) {
		endBy := time.Unix(endUnix%4_000_000_000, 0)
		out, _, err := ShiftSlice(in, endBy, loc)
		if err != nil {
			return
		}
		if _, err := csv.NewReader(bytes.NewReader(out)).ReadAll(); err != nil {
			t.Fatalf("output is not CSV: %v\n%q", err, out)
		}
	})
}

// gz returns s gzip-compressed.
func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
