package importer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/London without the host's zoneinfo files
)

// Columns are the data set's columns, in the order of the published file.
// The reader finds them by header name, so another order works too.
var Columns = [...]string{"InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"}

// Column indices in Columns.
const (
	colInvoiceNo = iota
	colStockCode
	colDescription
	colQuantity
	colInvoiceDate
	colUnitPrice
	colCustomerID
	colCountry
	numColumns
)

// DateLayout is the layout of InvoiceDate: the retailer's local wall-clock
// time, to the second.
const DateLayout = "2006-01-02 15:04:05"

// RetailerTimeZone is the time zone of InvoiceDate: the retailer is based
// in the UK. Wall-clock times that occur twice when clocks go back (01:00 to
// 02:00 on the last Sunday of October) resolve to the first (BST) instant,
// as time.Date does; the shop's data set has no invoices in that hour.
const RetailerTimeZone = "Europe/London"

// LoadRetailerLocation returns the *time.Location of RetailerTimeZone from the
// embedded time zone database.
func LoadRetailerLocation() (*time.Location, error) {
	loc, err := time.LoadLocation(RetailerTimeZone)
	if err != nil {
		return nil, fmt.Errorf("importer: load time zone %s: %w", RetailerTimeZone, err)
	}
	return loc, nil
}

// Row is one parsed invoice line.
type Row struct {
	Line        int       // 1-based line number in the (uncompressed) file; the header is line 1
	InvoiceNo   string    // "536365", "C536379" (cancellation), "A563185" (adjustment)
	StockCode   string    // the SKU
	Description string    // trimmed; may be empty
	Quantity    int64     // negative on cancellations
	InvoiceDate time.Time // in UTC
	UnitPrice   Decimal   // GBP
	CustomerID  string    // normalised ("17850.0" → "17850"); "" for a guest purchase
	Country     string    // trimmed
}

// Guest reports whether the line has no customer id.
func (r Row) Guest() bool { return r.CustomerID == "" }

// Cancellation reports whether the line belongs to a cancellation invoice.
func (r Row) Cancellation() bool { return strings.HasPrefix(r.InvoiceNo, "C") }

// ParseError is a row that cannot be parsed. It names the line and, when
// one field is at fault, the column and its value.
type ParseError struct {
	Line   int
	Column string // "" when the row as a whole is at fault
	Value  string
	Err    error
}

func (e *ParseError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d: column %s: %q: %v", e.Line, e.Column, truncate(e.Value, 60), e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// gzipMagic starts every gzip stream (RFC 1952).
var gzipMagic = []byte{0x1f, 0x8b}

// Reader streams the rows of an Online Retail CSV file, plain or
// gzip-compressed (detected by the magic bytes). It is not safe for
// concurrent use.
type Reader struct {
	csv   *csv.Reader
	gz    *gzip.Reader // nil for plain CSV
	loc   *time.Location
	index [numColumns]int // field index of each column

	// The last parsed date: invoice lines come in runs with the same date.
	lastDate string
	lastTime time.Time
}

// NewReader reads and checks the header of r and returns a Reader of its
// rows. Dates are interpreted in loc (see LoadRetailerLocation).
func NewReader(r io.Reader, loc *time.Location) (*Reader, error) {
	if loc == nil {
		return nil, errors.New("importer: NewReader: nil time zone")
	}
	br := bufio.NewReaderSize(r, 256<<10)
	rd := &Reader{loc: loc}
	var src io.Reader = br
	if magic, _ := br.Peek(len(gzipMagic)); bytes.Equal(magic, gzipMagic) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("importer: gzip: %w", err)
		}
		rd.gz = gz
		src = bufio.NewReaderSize(gz, 256<<10)
	}
	rd.csv = csv.NewReader(src)
	rd.csv.ReuseRecord = true
	header, err := rd.csv.Read()
	switch {
	case errors.Is(err, io.EOF):
		return nil, &ParseError{Line: 1, Err: errors.New("empty file: expected the header " + strings.Join(Columns[:], ","))}
	case err != nil:
		return nil, csvError(err)
	}
	if err := rd.setHeader(header); err != nil {
		return nil, err
	}
	rd.csv.FieldsPerRecord = len(header)
	return rd, nil
}

// setHeader maps the columns to field indices.
func (r *Reader) setHeader(header []string) error {
	pos := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.TrimSpace(h)
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF") // a UTF-8 byte order mark
		}
		pos[h] = i
	}
	var missing []string
	for c, name := range Columns {
		i, ok := pos[name]
		if !ok {
			missing = append(missing, name)
		}
		r.index[c] = i
	}
	if len(missing) > 0 {
		return &ParseError{Line: 1, Err: fmt.Errorf("header lacks column(s) %s; expected %s (the Online Retail data set)",
			strings.Join(missing, ", "), strings.Join(Columns[:], ","))}
	}
	return nil
}

// csvError turns an encoding/csv error into a *ParseError with its line.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{Line: pe.Line, Err: pe.Err}
	}
	return fmt.Errorf("importer: read: %w", err)
}

// Read returns the next row, io.EOF at the end of the file, or an error
// (a *ParseError for a malformed row).
func (r *Reader) Read() (Row, error) {
	rec, err := r.csv.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Row{}, io.EOF
		}
		return Row{}, csvError(err)
	}
	line, _ := r.csv.FieldPos(0)
	var fields [numColumns]string
	for c, i := range r.index {
		fields[c] = rec[i]
	}
	// Dates repeat on every line of an invoice: reuse the last one.
	if d := fields[colInvoiceDate]; d == r.lastDate && d != "" {
		row, err := parseFields(fields, line, nil)
		row.InvoiceDate = r.lastTime
		return row, err
	}
	row, err := parseFields(fields, line, r.loc)
	if err == nil {
		r.lastDate = strings.Clone(fields[colInvoiceDate])
		r.lastTime = row.InvoiceDate
	}
	return row, err
}

// Close releases the gzip decompressor, if any; it does not close the
// underlying reader.
func (r *Reader) Close() error {
	if r.gz != nil {
		return r.gz.Close()
	}
	return nil
}

// ParseRow parses the fields of one data row, in the order of Columns, found
// on the given line. Dates are interpreted in loc.
func ParseRow(fields []string, line int, loc *time.Location) (Row, error) {
	if len(fields) != numColumns {
		return Row{}, &ParseError{Line: line, Err: fmt.Errorf("%d fields, want %d (%s)", len(fields), numColumns, strings.Join(Columns[:], ","))}
	}
	if loc == nil {
		return Row{}, errors.New("importer: ParseRow: nil time zone")
	}
	return parseFields([numColumns]string(fields), line, loc)
}

// parseFields parses a row; with a nil loc the date is not parsed (the
// caller fills it in).
func parseFields(f [numColumns]string, line int, loc *time.Location) (Row, error) {
	bad := func(col int, err error) (Row, error) {
		return Row{}, &ParseError{Line: line, Column: Columns[col], Value: f[col], Err: err}
	}
	row := Row{Line: line}

	no := strings.TrimSpace(f[colInvoiceNo])
	if !validInvoiceNo(no) {
		return bad(colInvoiceNo, errors.New("want digits with an optional one-letter prefix (C for a cancellation), e.g. 536365 or C536379"))
	}
	row.InvoiceNo = strings.Clone(no)

	sku := strings.TrimSpace(f[colStockCode])
	if sku == "" {
		return bad(colStockCode, errors.New("empty stock code"))
	}
	row.StockCode = strings.Clone(sku)
	row.Description = strings.Clone(strings.TrimSpace(f[colDescription]))

	q, err := strconv.ParseInt(strings.TrimSpace(f[colQuantity]), 10, 32)
	if err != nil {
		return bad(colQuantity, errors.New("not an integer"))
	}
	row.Quantity = q

	if loc != nil {
		t, err := time.ParseInLocation(DateLayout, strings.TrimSpace(f[colInvoiceDate]), loc)
		if err != nil {
			return bad(colInvoiceDate, errors.New("want YYYY-MM-DD HH:MM:SS"))
		}
		row.InvoiceDate = t.UTC()
	}

	price, err := ParseDecimal(strings.TrimSpace(f[colUnitPrice]))
	if err != nil {
		return bad(colUnitPrice, err)
	}
	if price > 1_000_000*decimalScale || price < -1_000_000*decimalScale {
		return bad(colUnitPrice, errDecimalRange)
	}
	row.UnitPrice = price

	cid, ok := normaliseCustomerID(strings.TrimSpace(f[colCustomerID]))
	if !ok {
		return bad(colCustomerID, errors.New("want a whole number such as 17850 or 17850.0, or nothing for a guest"))
	}
	row.CustomerID = strings.Clone(cid)
	row.Country = strings.Clone(strings.TrimSpace(f[colCountry]))
	return row, nil
}

// validInvoiceNo: an optional upper-case letter, then 1–12 digits.
func validInvoiceNo(s string) bool {
	if s != "" && s[0] >= 'A' && s[0] <= 'Z' {
		s = s[1:]
	}
	return s != "" && len(s) <= 12 && allDigits(s)
}

// normaliseCustomerID turns "17850.0" (the data set writes ids as floats)
// or "17850" into "17850"; "" stays "" (a guest).
func normaliseCustomerID(s string) (string, bool) {
	if s == "" {
		return "", true
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		if strings.Trim(s[i+1:], "0") != "" {
			return "", false
		}
		s = s[:i]
	}
	if s == "" || len(s) > 12 || !allDigits(s) {
		return "", false
	}
	if t := strings.TrimLeft(s, "0"); t != "" {
		s = t
	} else {
		s = "0"
	}
	return s, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
