package demo

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/crm-es/crm/importer"
)

// week is the unit of ShiftSlice: whole weeks keep every invoice's weekday
// and time of day (office hours stay office hours).
const week = 7 * 24 * time.Hour

// ShiftSlice moves every InvoiceDate of an Online Retail slice (plain or
// gzip-compressed CSV) by the whole number of weeks that puts the slice's
// last invoice in the seven days before endBy, and returns the slice as plain
// CSV with the number of weeks moved. Dates are wall-clock times of loc (the
// retailer's zone), shifted in it, so times of day survive daylight saving.
// A slice already ending in that week keeps its dates (0 weeks); endBy
// before the last invoice moves it back. A missing InvoiceDate column
// or an unreadable date is an error naming the row.
func ShiftSlice(slice []byte, endBy time.Time, loc *time.Location) ([]byte, int, error) {
	if loc == nil {
		return nil, 0, errors.New("demo: ShiftSlice: nil time zone")
	}
	br := bufio.NewReader(bytes.NewReader(slice))
	var in io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, 0, fmt.Errorf("demo: gzip: %w", err)
		}
		defer gz.Close()
		in = gz
	}
	r := csv.NewReader(in)
	records, err := r.ReadAll()
	if err != nil {
		return nil, 0, fmt.Errorf("demo: read the slice: %w", err)
	}
	if len(records) == 0 {
		return nil, 0, errors.New("demo: the slice is empty (no header)")
	}
	col := -1
	for i, h := range records[0] {
		if strings.TrimPrefix(strings.TrimSpace(h), "\uFEFF") == "InvoiceDate" {
			col = i
		}
	}
	if col < 0 {
		return nil, 0, fmt.Errorf("demo: the header %q has no InvoiceDate column: not the Online Retail data set", strings.Join(records[0], ","))
	}
	times := make([]time.Time, len(records))
	var last time.Time
	for i := 1; i < len(records); i++ {
		t, err := time.ParseInLocation(importer.DateLayout, strings.TrimSpace(records[i][col]), loc)
		if err != nil {
			return nil, 0, fmt.Errorf("demo: row %d: InvoiceDate %q: want YYYY-MM-DD HH:MM:SS", i+1, records[i][col])
		}
		times[i] = t
		if t.After(last) {
			last = t
		}
	}
	weeks := 0
	if !last.IsZero() {
		// floor((gap-1ns)/week): then endBy - (last + weeks) is in (0, 7 days].
		g := endBy.Sub(last) - 1
		weeks = int(g / week)
		if g%week < 0 {
			weeks--
		}
	}
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	for i, rec := range records {
		if i > 0 && weeks != 0 {
			rec[col] = times[i].AddDate(0, 0, 7*weeks).Format(importer.DateLayout)
		}
		if err := w.Write(rec); err != nil {
			return nil, 0, fmt.Errorf("demo: write the slice: %w", err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, 0, fmt.Errorf("demo: write the slice: %w", err)
	}
	return out.Bytes(), weeks, nil
}
